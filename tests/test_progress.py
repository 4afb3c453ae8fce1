"""`make progress`: does a student see every exercise of a notebook, passed or not, by its visible checks alone,
from the student bundle?

The reading of cells and the table are checked on hand-made cells (fast); one slow run executes a buggy
lesson-1 notebook from an unzipped bundle and compares the table with what the bank's visible checks find.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile

import nbformat
import pytest

from ddpm_course import progress
from ddpm_course.cells import check_cells
from ddpm_course.instructor import course
from ddpm_course.instructor.platforms import student_bundle
from ddpm_course.instructor.qa import bank
from submissions import FIRST, HIDDEN_ONLY, VISIBLE_BUG, buggy_notebook

LESSONS = course.lessons()


@pytest.mark.parametrize("lesson", LESSONS)
def test_each_check_cell_is_named_with_its_points_and_exercise(lesson):
    """Does every graded cell of the release appear, with its points, under the exercise whose checks it runs?"""
    found = check_cells(course.release(lesson))
    assert {c.grade_id: c.points for c in found} == course.points(lesson)
    assert {c.grade_id: c.exercise for c in found} == {
        gid: exercise for exercise, checks in bank.exercise_checks(lesson).items() for gid in checks}


def cell(*outputs, count: int | None = 1):
    return nbformat.v4.new_code_cell("checks.demo(fn)", outputs=list(outputs), execution_count=count)


def error(ename: str, evalue: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])


@pytest.mark.parametrize(("made", "says"), [
    (cell(), ""),
    (cell(error("CheckFailure", "Demo: wrong\n  Hint: look")), "CheckFailure: Demo: wrong\n  Hint: look"),
    (cell(error("KeyboardInterrupt", "")), "CellTimeoutError: ran past the time limit of 9 s (an infinite loop?)"),
    (cell(count=None), "NotRun: this cell did not run"),
])
def test_a_cell_says_how_it_ended(made, says):
    """Does a check cell pass only when it ran without an error, and otherwise say why, whole, as the student saw it?"""
    assert progress.error_of(made, timeout=9) == says


def test_the_table_gives_the_visible_score_and_a_line_per_check(tmp_path):
    """Does the table open with the visible points and give PASS/FAIL, exercise, check, points and the message?"""
    checks = [progress.Check("a_values", 3, "a_impl"),
              progress.Check("b_values", 2, "b_impl", "CheckFailure: no\n  Hint")]
    lines = progress.table(tmp_path / "x.ipynb", checks, 1.2).split("\n")
    assert lines[0] == f"{tmp_path / 'x.ipynb'}: 3 / 5 points of visible checks (1 s)"
    assert lines[1].split() == ["PASS", "a_impl", "a_values", "3/3"]
    assert lines[2].split() == ["FAIL", "b_impl", "b_values", "0/2", "CheckFailure:", "no"]


def test_a_file_that_is_no_notebook_says_so_without_starting_a_kernel(tmp_path):
    """Is a file that is not a notebook reported as such, by name?"""
    path = tmp_path / f"{FIRST}.ipynb"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"{FIRST}.ipynb is not a readable notebook"):
        progress.run_visible(path)


@pytest.mark.slow
def test_progress_runs_from_the_student_bundle_and_agrees_with_the_visible_checks(tmp_path):
    """Unzipped from the bundle, with only its own package, does `python -m ddpm_course.progress` fail exactly the
    checks that the visible checks fail, for a notebook with a known bug and a bug only hidden checks see?"""
    with zipfile.ZipFile(student_bundle.build(FIRST, tmp_path / "dist")) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / student_bundle.bundle_name(FIRST)
    (folder / "mine").mkdir()
    nbformat.write(buggy_notebook(), folder / "mine" / f"{FIRST}.ipynb")
    # -S: no .pth files, so not this repository's editable install, which would lend the bundle any module it
    # lacks; the bundle's package comes first for the kernel too
    paths = [str(folder), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    result = subprocess.run([sys.executable, "-S", "-m", "ddpm_course.progress", f"mine/{FIRST}.ipynb"], cwd=folder,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[2]: line.split()[0] for line in result.stdout.strip().split("\n")[1:]}
    visible_failures = {mutation: {gid for gid, run in bank.run_lesson(FIRST, mutation).items() if run.visible}
                        for mutation in (VISIBLE_BUG, HIDDEN_ONLY)}
    assert visible_failures == {VISIBLE_BUG: {VISIBLE_BUG.fails}, HIDDEN_ONLY: set()}
    assert rows == {gid: "FAIL" if gid == VISIBLE_BUG.fails else "PASS" for gid in course.points(FIRST)}, result.stdout
