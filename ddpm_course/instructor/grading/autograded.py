"""From one autograded notebook to the student's record: each graded cell's score and failure as the student
sees it, what stopped the student's code, and the one-line reason that grades.csv, the feedback and every
route report. The caller parses the notebook once and hands it here.
"""
from __future__ import annotations

from ddpm_course.cells import error_message, errors
from ddpm_course.instructor import course
from ddpm_course.instructor.grading.records import CellGrade, Record
from ddpm_course.instructor.grading.triage import Task, max_score

# How nbgrader and Python name what the grading limits stopped.
CAUSES = {"CellTimeoutError": "ran past the time limit (an infinite loop?)",
          "MemoryError": "ran out of memory (over the memory limit)",
          "DeadKernelError": "the kernel died here (a crash, os._exit, or killed by the system)",
          "OutputTimeout": "its output came too late (too much output?)",
          "GradingError": "its checks could not reach the notebook's code (the agent did not answer)"}


def first_line(text: str, width: int = 160) -> str:
    line = text.strip().split("\n")[0] if text.strip() else ""
    return line if len(line) <= width else line[:width - 3] + "..."


def cause(output) -> str | None:
    """What a grading limit stopped, from an error output; None for an ordinary error."""
    if "can't allocate memory" in output.get("evalue", ""):
        return CAUSES["MemoryError"]
    return CAUSES.get(output.get("ename"))


def failure_outputs(notebook) -> dict[str, str]:
    """The error shown under each graded cell of an autograded notebook, whole (a CheckFailure's
    message and hint, as the student sees it); where a limit stopped the cell (a timeout also
    leaves a KeyboardInterrupt), what stopped it."""
    outputs = {}
    for cell in notebook.cells:
        found = errors(cell)
        if found and course.grade_id(cell):
            error = next((o for o in found if cause(o)), found[0])
            outputs[course.grade_id(cell)] = error_message(error, cause(error))
    return outputs


def what_went_wrong(notebook) -> list[str]:
    """For the reason column: in notebook order every cell a limit stopped (a timeout, memory, a dead
    kernel), and the first two errors the student's own cells raised (not the checks': their failures are
    listed by name); the errors after those are usually their consequences."""
    found, raised = [], 0
    for index, cell in enumerate(notebook.cells):
        # an untouched stub or a cell skipped after a crash is said by "failed: ..." already
        own = [o for o in errors(cell) if o["ename"] not in ("NotRun", "NotImplementedError")]
        causes = [cause(o) for o in own if cause(o)]
        where = course.grade_id(cell) or f"cell {index + 1}"
        if causes:
            found.append(f"{where}: {causes[0]}")
        elif own and not course.is_graded_test(cell) and raised < 2:
            raised += 1
            found.append(f"{where} raised {first_line(error_message(own[0]), 100)}")
    return found


def reason(cells: list[CellGrade], notes: list[str], errors: list[str]) -> str:
    """One line for the instructor: what stopped the student's code, the failed checks, and
    what triage noticed."""
    failed = [g.grade_id for g in cells if g.score < g.max_score]
    return "; ".join(errors + ([f"failed: {', '.join(failed)}"] if failed else []) + notes)


def graded_record(task: Task, scores: list[CellGrade], notebook, seconds: float) -> Record:
    """The record of a graded submission: the gradebook's `scores`, each cell with its failure from the
    autograded notebook, in the lesson's order."""
    outputs, by_id = failure_outputs(notebook), {g.grade_id: g for g in scores}
    cells = [CellGrade(gid, by_id[gid].score, by_id[gid].max_score, first_line(outputs.get(gid, ""), 10_000),
                       outputs.get(gid, "")) for gid in course.points(task.lesson) if gid in by_id]
    return Record(task.student, task.lesson, "graded", sum(g.score for g in cells), sum(g.max_score for g in cells),
                  reason(cells, task.notes, what_went_wrong(notebook)), cells, seconds)


def error_record(task: Task, error: str, seconds: float) -> Record:
    """The record of a submission nbgrader gave up on: 0, with the error and what it means."""
    known = [text for name, text in CAUSES.items() if name in error]
    return Record(task.student, task.lesson, "error", 0, max_score(task.lesson),
                  "; ".join([f"could not be graded: {error}", *known, *task.notes]), seconds=seconds)
