"""The known-bug bank: run a lesson's checks in-process against mutated solutions.

Each lesson's `bugs.py` lists `Bug`s and `Alternative`s as textual edits of one solution
cell (found by grade_id), so a bug reads as the one-line diff it is and stays in step with
the solution notebook. `run_lesson` executes the exported cells, edited, then every graded
cell's visible part and hidden part separately, in a fraction of a second, no kernel needed. With
`remote=True` the graded cells run as grading runs them: in a checker, on proxies of the notebook's
objects served by an agent (grading/remote.py's loopback), so that the bank can show that grading
scores every known bug and alternative as the notebook's own checks do.

    python -m ddpm_course.instructor.qa.bank [--remote]   # table of every bug: which check caught it, and how
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import io
import linecache
import sys
import time
from dataclasses import dataclass

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.records import CellGrade
from ddpm_course.mutations import Mutation


@dataclass
class CellRun(CellGrade):
    """A graded cell as the bank runs it in-process: its grade, and its visible and hidden parts
    apart (None where a part passed, else its failure message), with the seconds each part took
    (`make bench` reports them)."""
    visible: str | None = None
    hidden: str | None = None
    visible_s: float = 0.0
    hidden_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.visible is None and self.hidden is None


def split_test_cell(source: str) -> tuple[str, str]:
    """(visible part, hidden part with the visible part's imports) of a graded cell."""
    lines = source.split("\n")
    begin, end = (lines.index(line) for line in lines if line.strip() in course.HIDDEN_DELIMITERS)
    visible = lines[:begin] + lines[end + 1:]
    imports = [line for line in visible if line.startswith(("import ", "from "))]
    return "\n".join(visible), "\n".join(imports + lines[begin + 1:end])


def _exec(source: str, namespace: dict, filename: str) -> tuple[str | None, float]:
    """Run source; return (None or the failure message, seconds it took). Registered with linecache
    so failure messages can quote the student's line, as they do in a notebook."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            # dont_inherit: cells must run as in a notebook, not under this module's __future__ flags
            exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    except Exception as err:  # a graded cell fails on any exception, as under nbgrader
        message = str(err) if type(err).__name__ == "CheckFailure" else f"{type(err).__name__}: {err}"
        return message, time.perf_counter() - start
    return None, time.perf_counter() - start


def _exec_graded(source: str, namespace: dict, filename: str) -> tuple[str | None, float]:
    """Run a graded cell's part as grading runs it: in a checker, on proxies of `namespace` served by an agent."""
    from ddpm_course.instructor.grading import checker, remote

    start = time.perf_counter()
    _, failure = checker.run_graded_cell(source, remote.loopback(namespace), filename)
    if failure is None:
        return None, time.perf_counter() - start
    name, message = failure
    return (message if name == "CheckFailure" else f"{name}: {message}"), time.perf_counter() - start


def run_lesson(lesson: str, mutation: Mutation | None = None, stubs: bool = False,
               remote: bool = False, every_part: bool = False) -> dict[str, CellRun]:
    """Grade a lesson in-process: the solution (or, with stubs=True, the released stubs),
    with `mutation` applied to one solution cell; graded cells always come from the source.
    remote=True runs the graded cells as grading does, on proxies of the notebook's objects.
    A hidden part runs only where its visible part passed, as in a graded cell, whose first failure
    ends it; every_part=True runs it anyway (its message then shows how it fails on its own)."""
    solution = course.solution(lesson)
    code_cells = course.release(lesson).cells if stubs else solution.cells
    namespace: dict = {"__name__": f"bank_{lesson}"}
    for cell in code_cells:
        if not course.is_export(cell):
            continue
        source = cell.source
        if mutation is not None and course.grade_id(cell) == mutation.cell:
            source = mutation.apply(source)
        error, _ = _exec(course.strip_solution_markers(source), namespace, f"<{lesson}:{course.grade_id(cell)}>")
        if error:
            raise RuntimeError(f"{lesson}: exported cell {course.grade_id(cell)} does not run: {error}")
    if mutation is not None and mutation.cell not in {course.grade_id(c) for c in solution.cells}:
        raise ValueError(f"'{mutation.name}': no solution cell {mutation.cell} in {lesson}")
    results = {}
    for cell in solution.cells:
        if course.is_graded_test(cell):
            gid = course.grade_id(cell)
            visible, hidden = split_test_cell(cell.source)
            run = _exec_graded if remote else _exec
            visible_error, visible_s = run(visible, namespace, f"<{lesson}:{gid}:visible>")
            hidden_error, hidden_s = run(hidden, namespace, f"<{lesson}:{gid}:hidden>") \
                if visible_error is None or every_part else (None, 0.0)
            points = cell.metadata["nbgrader"]["points"]
            failed = visible_error is not None or hidden_error is not None
            message = visible_error or hidden_error or ""
            results[gid] = CellRun(gid, 0 if failed else points, points, message, message, visible=visible_error,
                                   hidden=hidden_error, visible_s=visible_s, hidden_s=hidden_s)
    return results


def exercise_checks(lesson: str) -> dict[str, set[str]]:
    """The graded checks of each exercise: those that follow its answer cell in the notebook, before the
    next answer cell. A bug in one exercise may fail these, and no others."""
    checks = {course.grade_id(c): set() for c in course.solution(lesson).cells if course.is_answer(c)}
    for check in course.check_cells(course.solution(lesson)):
        if check.exercise:
            checks[check.exercise].add(check.grade_id)
    return checks


def submission(lesson: str, mutation: Mutation | None = None):
    """The released notebook as a student would hand it in: every answer cell filled with
    the solution, `mutation` applied to one of them. Used for nbgrader round trips."""
    answers = {course.grade_id(c): c.source for c in course.solution(lesson).cells if course.is_answer(c)}
    notebook = copy.deepcopy(course.release(lesson))
    for cell in notebook.cells:
        gid = course.grade_id(cell)
        if gid in answers:
            source = mutation.apply(answers[gid]) if mutation and mutation.cell == gid else answers[gid]
            cell.source = course.strip_solution_markers(source)
    return notebook


def bank(lesson: str):
    """The lesson's bugs.py module (BUGS and ALTERNATIVES)."""
    return importlib.import_module(f"ddpm_course.{lesson}.bugs")


def caught_by(bug, results: dict[str, CellRun]) -> str:
    """How the bug's own check caught it: 'visible', 'hidden' or 'MISSED'."""
    result = results[bug.fails]
    return "visible" if result.visible else "hidden" if result.hidden else "MISSED"


def main() -> None:
    remote = "--remote" in sys.argv[1:]  # graded as grading runs the checks: on proxies, over the wire
    counts: dict[str, int] = {}
    for lesson in course.lessons():
        for bug in bank(lesson).BUGS:
            results = run_lesson(lesson, bug, remote=remote)
            by = caught_by(bug, results)
            pointed = bug.says in results[bug.fails].message
            others = sorted(gid for gid, r in results.items() if not r.passed and gid != bug.fails)
            for key in (f"{lesson} bugs", f"{lesson} {by}"):
                counts[key] = counts.get(key, 0) + 1
            print(f"{lesson:14} {bug.cell:18} {bug.name[:44]:44} {by:8} {'hint ok' if pointed else 'NO HINT'}"
                  f"{'  also fails ' + ', '.join(others) if others else ''}")
        alternatives = bank(lesson).ALTERNATIVES
        counts[f"{lesson} alternatives passing"] = sum(
            all(r.passed for r in run_lesson(lesson, alt, remote=remote).values()) for alt in alternatives)
        counts[f"{lesson} alternatives"] = len(alternatives)
    for key, n in counts.items():
        print(f"{key}: {n}")


if __name__ == "__main__":
    main()
