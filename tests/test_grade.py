"""Grading end to end (grade.py, with workers, triage, reports, limits and feedback at class scale):
does autograding score what the bug bank predicts, hide the hidden checks, grade in parallel exactly
as in sequence, and give every bad submission a record of its own? Each piece also has a fast test
module of its own; this is the slim round trip, marked slow.

Four gradings run at once, started by one module fixture, and the tests only read their outputs:
- `graded` (in this process, 2 workers, the course's limits): a correct notebook of every lesson (with an honest
  student's autoreload cell), and the first lesson's buggy and untouched ones (the cheat and honest banks,
  test_cheats.py and test_habits.py, grade theirs apart);
- `sequential` (`grade --all --jobs 1`): the first lesson's buggy one again;
- `troubled` (`grade --all --jobs 2` with a small timeout and memory limit): bad submissions;
- `make grade` of the first lesson's release.
The correct notebooks prove each solution notebook runs top to bottom under nbgrader, which
the in-process bank cannot: exploration, training and plotting cells run only here.
"""
from __future__ import annotations

import csv
import html.parser
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import grade
from ddpm_course.instructor.qa import bank, habits
from ddpm_course.mutations import Bug
from submissions import FIRST, first_code_cell, shadow_package, submit, with_new_cell


LESSONS = course.lessons()
KINDS = ("correct", "buggy", "untouched")
# Every lesson's correct notebook runs top to bottom; the first lesson's buggy one loses its bug's points and its
# untouched release scores 0. A later lesson's bug graded end to end would add a kernel and its seconds to prove
# nothing more: nbgrader's path is the same for every lesson, and test_checker grades each lesson's first bug as
# grading runs the checks (the bank shows every bug and stub of every lesson in-process).
ROUND_TRIP = [(lesson, "correct") for lesson in LESSONS] + [(FIRST, "buggy"), (FIRST, "untouched")]
# graded again by one worker, in the grading process itself: one notebook is enough to compare the two paths
SEQUENTIAL = ("buggy",)
# Small limits of the troubled run; a lesson 1 kernel peaks near 1.5 GB of address space, and its
# slowest cell takes a few seconds, even on 2 cores shared by four gradings.
TIMEOUT, MEMORY_MB = 30, 2560
GRADE = [sys.executable, "-m", "ddpm_course.instructor.grading.grade"]


def first_bug(lesson: str) -> Bug:
    return bank.bank(lesson).BUGS[0]


def expected_score(lesson: str, kind: str) -> float:
    pts = course.points(lesson)
    if kind == "correct":
        return sum(pts.values())
    if kind == "buggy":
        bug = first_bug(lesson)
        return sum(pts.values()) - sum(pts[gid] for gid in {bug.fails})
    return 0


def notebook_of(lesson: str, kind: str):
    if kind == "correct":
        return habits.honest(habits.Habit("autoreload", ("%load_ext autoreload\n%autoreload 2",), lesson=lesson))
    if kind == "buggy":
        return bank.submission(lesson, first_bug(lesson))
    return course.read(course.release_path(lesson))


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(path: Path) -> str:
    """What a reader sees in an HTML page: tags dropped (syntax highlighting splits code
    into spans), entities unescaped."""
    parser = _Text()
    parser.feed(path.read_text())
    return "".join(parser.parts)


def hidden_lines(lesson: str, shown: str) -> list[str]:
    """Distinctive source lines of the lesson's hidden checks that the student's own
    notebook does not happen to contain."""
    lines = {line.strip() for line in (course.PACKAGE / lesson / "hidden.py").read_text().split("\n")}
    return sorted(line for line in lines if len(line) >= 20 and line not in shown)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# Bad submissions, all of the first lesson


def cell_index(notebook, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook.cells) if course.grade_id(c) == grade_id)


def answer_cells(lesson: str) -> list[str]:
    return [course.grade_id(c) for c in course.read(course.solution_path(lesson)).cells
            if course.is_answer(c)]


def checks_after(lesson: str, answer: str) -> list[str]:
    """Graded cells below an answer cell: those that fail when the answer never gets defined."""
    solution = course.read(course.solution_path(lesson))
    return [course.grade_id(c) for c in solution.cells[cell_index(solution, answer):] if course.is_graded_test(c)]


def with_code_on_top_of(notebook, grade_id: str, code: str):
    cell = notebook.cells[cell_index(notebook, grade_id)]
    cell.source = code + "\n" + cell.source
    return notebook


def tampered(lesson: str):
    """The first bug, its check cell edited to `pass`, and another check cell deleted."""
    bug = first_bug(lesson)
    notebook = bank.submission(lesson, bug)
    notebook.cells[cell_index(notebook, bug.fails)].source = "pass"
    deleted = next(gid for gid in course.points(lesson) if gid not in {bug.fails})
    del notebook.cells[cell_index(notebook, deleted)]
    return notebook, deleted


HOG = "def _hog():\n    chunks = []\n    while True:\n        chunks.append(bytearray(50_000_000))\n\n_hog()"
LOOP = "import time\n\nwhile True:\n    time.sleep(0.1)"  # sleeps, so it costs the other gradings no CPU
ENVIRONMENT = 'import os\nprint("quick", os.environ["DDPM_COURSE_QUICK"], "fixture", os.environ["DDPM_COURSE_FIXTURE"])'
CRASH = "import os\nos._exit(1)"
CHATTY = 'for _ in range(10):\n    print("x" * 10_000_000)'  # 100 MB, in lines of 10 MB


def troubled_class(root: Path) -> None:
    """Bad submissions of the first lesson. Cases that cannot hide each other share a notebook:
    each notebook costs a kernel start and a torch import."""
    lesson, solution, answers = FIRST, bank.submission(FIRST), answer_cells(FIRST)
    submit(root, "invalid", lesson, nbformat.writes(solution)[:500])
    (root / "submitted" / "absent" / lesson).mkdir(parents=True)
    (root / "submitted" / "absent" / lesson / "notes.txt").write_text("I could not make it work")
    submit(root, "misnamed_chatty", lesson, with_new_cell(with_new_cell(bank.submission(lesson), CHATTY), ENVIRONMENT),
           name=f"{lesson} (1).ipynb")
    # were its fake package imported, the restored check would pass the bug: 8 points instead of 5
    shadow_package(submit(root, "tampered_shadowed", lesson, tampered(lesson)[0]).parent)
    broken = bank.submission(lesson)
    imports = broken.cells[first_code_cell(broken)]
    imports.source = "import no_such_module_anywhere\n" + imports.source
    submit(root, "raises", lesson, broken)
    runaway = with_code_on_top_of(with_new_cell(bank.submission(lesson), LOOP), answers[-2], HOG)
    submit(root, "loops_hogs_crashes", lesson, with_code_on_top_of(runaway, answers[-1], CRASH))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:  # conftest.py marks every test that uses it slow
    """Every grading of this module, started together so that they share the cores; returns the
    course root of each (and, for `make grade`, the folder of its stdout and stderr)."""
    roots = {name: tmp_path_factory.mktemp(name) for name in ("graded", "sequential", "troubled", "make_grade")}
    for lesson, kind in ROUND_TRIP:
        submit(roots["graded"], kind, lesson, notebook_of(lesson, kind))
    for kind in SEQUENTIAL:
        submit(roots["sequential"], kind, FIRST, notebook_of(FIRST, kind))
    troubled_class(roots["troubled"])
    commands = {"make_grade": GRADE + [str(course.release_path(FIRST))],
                "sequential": GRADE + ["--all", "--jobs", "1", "--root", str(roots["sequential"])],
                "troubled": GRADE + ["--all", "--jobs", "2", "--timeout", str(TIMEOUT),
                                     "--memory-mb", str(MEMORY_MB), "--root", str(roots["troubled"])]}
    background = {}
    for name, command in commands.items():
        with open(roots[name] / "stdout", "w") as out, open(roots[name] / "stderr", "w") as err:
            background[name] = subprocess.Popen(command, cwd=course.ROOT, stdout=out, stderr=err)
    try:
        grade.autograde(roots["graded"], jobs=2)
    finally:
        for name, process in background.items():
            (roots[name] / "returncode").write_text(str(process.wait(timeout=900)))
    return roots


@pytest.fixture(scope="module")
def graded(runs) -> Path:
    return runs["graded"]


@pytest.fixture(scope="module")
def grades_csv(graded) -> dict[tuple[str, str], dict]:
    return {(row["student"], row["lesson"]): row for row in read_csv(graded / "grades.csv")}


@pytest.mark.parametrize(("lesson", "kind"), ROUND_TRIP)
def test_autograde_scores_match_the_bank(lesson, kind, grades_csv):
    """Does grades.csv give full marks to the solution, lose exactly the broken checks' points
    for the first known bug, and give 0 to the untouched release?"""
    row = grades_csv[(kind, lesson)]
    assert float(row["max_score"]) == sum(course.points(lesson).values())
    assert float(row["score"]) == expected_score(lesson, kind)
    assert row["status"] == "graded"


@pytest.mark.parametrize(("lesson", "kind"), ROUND_TRIP)
def test_feedback_shows_failures_but_no_hidden_code(lesson, kind, graded):
    """Does the feedback page exist, name the failure, and hide every hidden-test line and call?"""
    text = html_text(graded / "feedback" / kind / lesson / f"{lesson}.html")
    assert "BEGIN HIDDEN TESTS" not in text and "run_hidden(" not in text
    shown = course.read(graded / "submitted" / kind / lesson / f"{lesson}.ipynb")
    leaked = [line for line in hidden_lines(lesson, nbformat.writes(shown)) if line in text]
    assert leaked == []
    if kind == "buggy":
        assert first_bug(lesson).says in text
    if kind == "untouched":
        assert "not implemented yet" in text


@pytest.mark.parametrize(("lesson", "kind"), [(lesson, kind) for lesson, kind in ROUND_TRIP if kind != "untouched"])
def test_graded_notebook_runs_top_to_bottom(lesson, kind, graded):
    """Did every code cell run, without a single error for the solution, and with graded failures
    exactly where the known bug should cause them (its effects may also break exploration cells)?"""
    notebook = course.read(graded / "autograded" / kind / lesson / f"{lesson}.ipynb")
    code = [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source.strip()]
    assert [i for i, c in code if c.get("execution_count") is None] == []
    errors = {course.grade_id(c) or f"cell {i}" for i, c in code
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))}
    if kind == "correct":
        assert errors == set()
    else:
        bug = first_bug(lesson)
        assert errors & set(course.points(lesson)) == {bug.fails}


def test_make_grade_prints_one_line_per_check_and_the_score(runs):
    """Does `make grade NB=<lesson 1 release>` print PASS/FAIL per graded cell and end with `score: 0 / <points>`?"""
    folder = runs["make_grade"]
    assert (folder / "returncode").read_text() == "0", (folder / "stderr").read_text()
    lines = (folder / "stdout").read_text().strip().split("\n")
    assert lines[-1] == f"score: 0 / {_full():g}"
    assert [line.split()[1] for line in lines[:-1]] == list(course.points(FIRST))
    for line, (gid, pts) in zip(lines, course.points(FIRST).items()):
        assert line.startswith(f"FAIL {gid} 0/{pts:g}  ") and "not implemented yet" in line, line


# Class-scale outputs


def test_grades_csv_has_a_row_per_student_and_lesson(graded):
    """Does grades.csv hold one row per student x lesson, "missing" where a student handed nothing in?"""
    rows = read_csv(graded / "grades.csv")
    assert list(rows[0]) == ["student", "lesson", "score", "max_score", "status", "reason"]
    every = {(kind, lesson) for kind in KINDS for lesson in LESSONS}
    assert sorted((r["student"], r["lesson"]) for r in rows) == sorted(every)
    missing = {(r["student"], r["lesson"]) for r in rows if r["status"] == "missing"}
    assert missing == every - {(kind, lesson) for lesson, kind in ROUND_TRIP}


def test_exercise_breakdown_counts_passes_per_check(graded):
    """Does reports/exercises.csv give each graded cell's pass rate over the class, and is there a chart?"""
    rows = {(r["lesson"], r["grade_id"]): r for r in read_csv(graded / "reports" / "exercises.csv")}
    assert set(rows) == {(lesson, gid) for lesson in LESSONS for gid in course.points(lesson)}
    for lesson in LESSONS:
        kinds = [kind for other, kind in ROUND_TRIP if other == lesson]
        broken = {first_bug(lesson).fails}
        for gid in course.points(lesson):
            passed = ("correct" in kinds) + ("buggy" in kinds and gid not in broken)
            assert (int(rows[(lesson, gid)]["graded"]), int(rows[(lesson, gid)]["passed"])) == (len(kinds), passed)
    assert (graded / "reports" / "exercises.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parallel_grading_equals_sequential_grading(runs):
    """Do two workers give every student and every check the same score as one worker?"""
    assert (runs["sequential"] / "returncode").read_text() == "0", (runs["sequential"] / "stderr").read_text()

    def scores(root: Path) -> list[tuple]:
        return sorted((r["student"], r["grade_id"], r["score"]) for r in read_csv(root / "reports" / "cells.csv")
                      if r["lesson"] == FIRST and r["student"] in SEQUENTIAL)
    assert scores(runs["sequential"]) == scores(runs["graded"])
    assert len(scores(runs["graded"])) == len(SEQUENTIAL) * len(course.points(FIRST))


# Bad submissions


def _full() -> float:
    return sum(course.points(FIRST).values())


def _without_last_two_answers() -> float:
    return _full() - sum(course.points(FIRST)[gid] for gid in checks_after(FIRST, answer_cells(FIRST)[-2]))


def _tampered_score() -> float:
    bug, (_, deleted) = first_bug(FIRST), tampered(FIRST)
    return _full() - sum(course.points(FIRST)[gid] for gid in {bug.fails, deleted})


BAD = {  # student: (status, score, what the reason says)
    "invalid": ("invalid", lambda: 0, ["not a readable notebook"]),
    "absent": ("missing", lambda: 0, ["notes.txt"]),
    "misnamed_chatty": ("graded", _full, [f"submitted as '{FIRST} (1).ipynb'"]),
    "tampered_shadowed": ("graded", _tampered_score, [f"failed: {first_bug(FIRST).fails}", "deleted",
                                                      "extra files not used for grading: checks.py, ddpm_course"]),
    "raises": ("graded", lambda: 0, ["ModuleNotFoundError"]),
    "loops_hogs_crashes": ("graded", _without_last_two_answers, ["time limit", "out of memory", "kernel died"]),
}


@pytest.fixture(scope="module")
def troubled(runs) -> tuple[Path, dict[str, dict]]:
    root = runs["troubled"]
    assert (root / "returncode").read_text() == "0", (root / "stderr").read_text()
    return root, {row["student"]: row for row in read_csv(root / "grades.csv")}


@pytest.mark.parametrize("student", BAD)
def test_bad_submission_gets_its_own_clear_record(student, troubled):
    """Does each bad submission get the status, score and reason it deserves, without stopping the batch?"""
    status, score, says = BAD[student]
    row = troubled[1][student]
    assert (row["status"], float(row["score"]), float(row["max_score"])) == (status, score(), _full())
    assert all(words in row["reason"] for words in says), row["reason"]


def test_every_student_of_a_troubled_class_has_feedback(troubled):
    """Does every student, graded or not, get a feedback page, which says why when there is no score?"""
    root, rows = troubled
    assert set(rows) == set(BAD)
    for student, row in rows.items():
        text = html_text(root / "feedback" / student / FIRST / f"{FIRST}.html")
        if row["status"] != "graded":
            assert row["reason"].split(" (")[0] in text


def test_edited_check_cell_is_restored_before_grading(troubled):
    """Is a check cell the student replaced with `pass` run as the original, hidden part included?"""
    notebook = course.read(troubled[0] / "autograded" / "tampered_shadowed" / FIRST / f"{FIRST}.ipynb")
    bug = first_bug(FIRST)
    cell = notebook.cells[cell_index(notebook, bug.fails)]
    assert "run_hidden(" in cell.source
    assert any(bug.says in output.get("evalue", "") for output in cell.outputs)


def test_huge_output_is_cut_in_autograded_notebook_and_feedback(troubled):
    """Does a student who printed 100 MB leave an autograded notebook and a feedback page under 1 MB?"""
    root, _ = troubled
    assert (root / "autograded" / "misnamed_chatty" / FIRST / f"{FIRST}.ipynb").stat().st_size < 2**20
    assert (root / "feedback" / "misnamed_chatty" / FIRST / f"{FIRST}.html").stat().st_size < 2**20


def test_grading_kernels_run_lesson_code_in_quick_fixture_mode(troubled):
    """Do grading kernels get DDPM_COURSE_QUICK=1 and DDPM_COURSE_FIXTURE=1 without the instructor setting them?"""
    notebook = course.read(troubled[0] / "autograded" / "misnamed_chatty" / FIRST / f"{FIRST}.ipynb")
    printed = [o.get("text", "") for c in notebook.cells if c.source == ENVIRONMENT for o in c.outputs]
    quick, fixture = (os.environ.get(name, "1") for name in ("DDPM_COURSE_QUICK", "DDPM_COURSE_FIXTURE"))
    assert printed == [f"quick {quick} fixture {fixture}\n"]


def test_files_next_to_a_submission_never_reach_the_kernel(troubled):
    """Does grading leave a submitted ddpm_course/ and checks.py out of the kernel's folder?"""
    root, _ = troubled
    assert sorted(p.name for p in (root / "autograded" / "tampered_shadowed" / FIRST).iterdir()) == [f"{FIRST}.ipynb"]


@pytest.mark.parametrize("name", ["l2_unet.ipynb", "l2_unet/anything.ipynb"])
def test_the_lesson_of_a_notebook_comes_from_its_name_or_folder(name, tmp_path):
    """Is `make grade NB=...` told the lesson by the notebook's file name, or else its folder's?"""
    assert grade.lesson_of(tmp_path / name) == "l2_unet"
    with pytest.raises(SystemExit, match="cannot tell which lesson"):
        grade.lesson_of(tmp_path / "homework.ipynb")
