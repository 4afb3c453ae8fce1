"""pytest grading: is each graded cell a test that scores what `make grade` scores, and fails with the
student's message alone?

The plumbing (tests, points, exit code, failure text, one grading per session) runs in-process with a
stand-in grader, in a fraction of a second; one slow run grades a correct, a buggy and an unreadable
notebook for real, as `make pytest-grade` does, while `make grade`'s batch (conftest.py) grades them beside it;
another grades, with the visible checks, the solution and a release whose check cells say `pass`.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import types
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nbformat
import pytest

from ddpm_course import pytest_grading
# grade (and nbgrader with it) imported before pytester's in-process runs, which unload every module they
# import first: nbgrader imported twice in one process fails to generate assignments
from ddpm_course.instructor import course
from ddpm_course.instructor.grading import grade  # noqa: F401
from submissions import FIRST, first_lesson_kinds

pytest_plugins = ["pytester"]
POINTS = course.points(FIRST)
PLUGIN = ["-p", "ddpm_course.pytest_grading", "-p", "no:cacheprovider"]
# of submissions.KINDS: the untouched release fails as make grade's own test shows, at a kernel's cost
ROUTE_KINDS = ("correct", "buggy", "invalid")
MESSAGE = "CheckFailure: GroupNorm: case [B=2]: output values differ\n  Hint: look at the variance"


def junit_cases(path: Path) -> dict[tuple[str, str], ElementTree.Element]:
    """(folder of the notebook, test name) -> its <testcase>."""
    return {(case.get("classname").split(".")[0], case.get("name")): case
            for case in ElementTree.parse(path).iter("testcase")}


def properties(case: ElementTree.Element) -> dict[str, float]:
    return {p.get("name"): float(p.get("value")) for p in case.iter("property")}


@pytest.fixture
def stand_in(monkeypatch):
    """Replace the grading of --checks all: each notebook's folder name says which cells fail, e.g. `fail-a-b`;
    returns the list of batches it was asked to grade."""
    batches = []

    def grade_by_folder_name(paths, config):
        logging.getLogger("traitlets").warning("Converting notebook")  # as nbgrader logs while grading
        batches.append([p.parent.name for p in paths])
        failing = [set(p.parent.name.split("-")[1:]) for p in paths]
        return [pytest_grading.Graded({gid: (0, MESSAGE) if gid in fails else (pts, "") for gid, pts in POINTS.items()})
                for fails in failing]
    monkeypatch.setitem(pytest_grading.MODES, "all", (pytest_grading.cells_of_lesson, grade_by_folder_name))
    return batches


def notebook_in(pytester, folder: str) -> Path:
    path = pytester.path / folder / f"{FIRST}.ipynb"
    path.parent.mkdir()
    nbformat.write(course.read(course.release_path(FIRST)), path)
    return path


@pytest.mark.parametrize("checks", ["all", "visible"])
def test_each_graded_cell_is_a_test_named_by_its_grade_id(checks, pytester, stand_in):
    """Does collecting a notebook give one test per graded cell, named by its grade_id, and grade nothing yet?"""
    path = notebook_in(pytester, "ok")
    result = pytester.runpytest_inprocess(*PLUGIN, f"--checks={checks}", "--collect-only", "-q", str(path))
    assert [line.split("::")[-1] for line in result.outlines if "::" in line] == list(POINTS)
    assert stand_in == []


@pytest.mark.parametrize(("folders", "exit_code"), [(["ok"], 0), (["ok", "fail-attention_values"], 1)])
def test_pytest_exits_0_only_when_every_cell_scores_all_its_points(folders, exit_code, pytester, stand_in):
    """Is the exit code 0 when every graded cell passes, and 1 when one cell of one notebook fails?"""
    paths = [str(notebook_in(pytester, folder)) for folder in folders]
    assert pytester.runpytest_inprocess(*PLUGIN, *paths).ret == exit_code


def test_every_notebook_of_a_session_is_graded_once_in_one_batch(pytester, stand_in):
    """Are all notebooks handed to the grading together, once, however many tests ask?"""
    paths = [str(notebook_in(pytester, folder)) for folder in ("ok", "fail-swish_values")]
    pytester.runpytest_inprocess(*PLUGIN, *paths)
    assert stand_in == [["ok", "fail-swish_values"]]


def test_a_failure_shows_the_students_message_and_no_traceback(pytester, stand_in):
    """Does a failed cell report the student's message alone, hint included, with no frame or log of the grader?"""
    path = notebook_in(pytester, "fail-groupnorm_values")
    text = pytester.runpytest_inprocess(*PLUGIN, str(path)).stdout.str()
    failure = text.split(" FAILURES ")[1].split(" short test summary ")[0]
    assert MESSAGE in failure
    assert "Traceback" not in failure and "pytest_grading.py" not in failure and "raise " not in failure
    assert "Converting notebook" not in text


def test_junitxml_carries_each_cells_points_score_and_message(pytester, stand_in):
    """Does --junitxml give every test its points and score as properties, and a failure its message?"""
    path = notebook_in(pytester, "fail-sinusoidal_values")
    pytester.runpytest_inprocess(*PLUGIN, str(path), f"--junitxml={pytester.path / 'out.xml'}")
    cases = junit_cases(pytester.path / "out.xml")
    for gid, pts in POINTS.items():
        case = cases[("fail-sinusoidal_values", gid)]
        failed = gid == "sinusoidal_values"
        assert properties(case) == {"points": pts, "score": 0 if failed else pts}
        failure = case.find("failure")
        assert (failure.get("message") if failed else failure) == (MESSAGE if failed else None)


def test_a_file_of_no_lesson_fails_one_test_that_says_why(pytester, stand_in):
    """Does a notebook that names no lesson fail a single test with the reason, and let the others be graded?"""
    other = pytester.path / "homework.ipynb"
    nbformat.write(course.read(course.release_path(FIRST)), other)
    result = pytester.runpytest_inprocess(*PLUGIN, str(other), str(notebook_in(pytester, "ok")))
    result.assert_outcomes(passed=len(POINTS), failed=1)
    assert "cannot tell which lesson" in result.stdout.str()


def test_checks_all_without_the_instructors_package_points_to_visible(monkeypatch):
    """Where the instructor's tooling is absent (a student's copy), does --checks all say to use --checks visible?"""
    def absent(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name="ddpm_course.instructor")
    monkeypatch.setattr(pytest_grading.importlib, "import_module", absent)
    with pytest.raises(pytest.UsageError, match="--checks visible"):
        pytest_grading.instructor("grading.grade")


def test_visible_grading_tests_every_released_check_deleted_ones_included(pytester, stand_in):
    """In visible mode, is each check cell of the released notebook a test, with the release's points, even where
    the student deleted the cell or changed its points?"""
    path = notebook_in(pytester, "ok")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [c for c in notebook.cells if course.grade_id(c) != "swish_values"]
    next(c for c in notebook.cells if course.is_graded_test(c)).metadata["nbgrader"]["points"] = 100
    nbformat.write(notebook, path)
    result = pytester.runpytest_inprocess(*PLUGIN, "--checks=visible", "--collect-only", "-q", str(path))
    assert [line.split("::")[-1] for line in result.outlines if "::" in line] == list(POINTS)
    no_options = types.SimpleNamespace(getoption=lambda name: None)
    assert pytest_grading.cells_of_release(path, no_options) == POINTS


def test_visible_grading_finds_the_release_by_the_folder_of_a_misnamed_notebook(pytester):
    """Is the release of a notebook that is not named after its lesson found by its folder's name?"""
    path = pytester.path / FIRST / "homework.ipynb"
    path.parent.mkdir()
    nbformat.write(course.read(course.release_path(FIRST)), path)
    result = pytester.runpytest_inprocess(*PLUGIN, "--checks=visible", "--collect-only", "-q", str(path))
    assert [line.split("::")[-1] for line in result.outlines if "::" in line] == list(POINTS)


def test_visible_grading_without_a_released_notebook_says_where_it_looked(pytester):
    """With no released notebook to restore the check cells from, does the notebook fail one test that says so
    and names --release, rather than let its own check cells grade it?"""
    path = notebook_in(pytester, "ok")
    missing = pytester.path / "nowhere.ipynb"
    result = pytester.runpytest_inprocess(*PLUGIN, "--checks=visible", f"--release={missing}", str(path))
    result.assert_outcomes(failed=1)
    assert "found no released notebook" in result.stdout.str() and "--release PATH" in result.stdout.str()


@pytest.mark.parametrize(("grade_id", "ok", "says"), [("swish_values", True, "swish_values: passed (2 points)"),
                                                      ("groupnorm_values", False, MESSAGE),
                                                      ("no_such_values", False, "no_such_values was not graded")])
def test_a_cells_result_is_read_back_from_the_junit_file(grade_id, ok, says, pytester, stand_in):
    """Does `python -m ddpm_course.pytest_grading RESULTS.xml GRADE_ID` (GitHub Classroom's steps) pass
    exactly the cells that passed, and repeat the failure message?"""
    path = notebook_in(pytester, "fail-groupnorm_values")
    pytester.runpytest_inprocess(*PLUGIN, str(path), f"--junitxml={pytester.path / 'out.xml'}")
    passed, message = pytest_grading.passed(pytester.path / "out.xml", grade_id)
    assert passed is ok and message.startswith(says)
    assert pytest_grading.passed(pytester.path / "missing.xml", grade_id)[0] is False


# The real thing, against `make grade`


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request) -> dict:
    """`make pytest-grade` over one notebook of each kind, in a subprocess, while `make grade`'s batch
    grades the same notebooks here (conftest.py): its return code, junit cases and `make grade`'s records."""
    folder = tmp_path_factory.mktemp("pytest_grade")
    paths = first_lesson_kinds(folder, ROUTE_KINDS)
    out = folder / "out.xml"
    # the root fixed: junit class names are paths from it (a clone under /tmp would otherwise root at /tmp)
    process = subprocess.Popen([sys.executable, "-m", "pytest", *PLUGIN, *map(str, paths.values()),
                                f"--junitxml={out}", f"--rootdir={folder}"],
                               cwd=course.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    records = request.getfixturevalue("make_grade")
    stdout = process.communicate(timeout=600)[0]
    return {"returncode": process.returncode, "stdout": stdout, "cases": junit_cases(out), "records": records}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ROUTE_KINDS)
def test_pytest_grading_scores_what_make_grade_scores(kind, graded):
    """Does every test of the notebook carry `make grade`'s score for its cell, and fail with the same message
    (or, for a notebook that could not be graded, with the reason)?"""
    record = graded["records"][kind]
    cells = {g.grade_id: g for g in record.cells}
    for gid, pts in POINTS.items():
        case = graded["cases"][(kind, gid)]
        failure = case.find("failure")
        if record.status != "graded":
            assert properties(case)["score"] == 0 and record.reason in failure.get("message")
            continue
        assert properties(case) == {"points": pts, "score": cells[gid].score}
        assert (failure.get("message") if failure is not None else "") == cells[gid].output


@pytest.mark.slow
def test_pytest_grading_exits_1_when_a_cell_fails_and_runs_the_hidden_checks(graded):
    """Does pytest exit 1 for a class with failures, and fail the bug only hidden checks see by its hidden case?"""
    assert graded["returncode"] == 1, graded["stdout"]
    assert "failed a hidden case" in graded["cases"][("buggy", "groupnorm_values")].find("failure").get("message")


@pytest.mark.slow
def test_visible_grading_restores_check_cells_replaced_by_pass(pytester):
    """Graded with the visible checks, does the release with every check cell replaced by `pass` score what the
    untouched release scores (0, "not implemented yet", on every cell), while the solution keeps full marks?"""
    paths = first_lesson_kinds(pytester.path, ("correct", "stub"))
    emptied = nbformat.read(paths["stub"], as_version=4)
    for cell in emptied.cells:
        if course.is_graded_test(cell):
            cell.source = "pass"
    nbformat.write(emptied, paths["stub"])
    out = pytester.path / "out.xml"
    pytester.runpytest_inprocess(*PLUGIN, "--checks=visible", f"--release={course.release_path(FIRST)}",
                                 *map(str, paths.values()), f"--junitxml={out}")
    cases = junit_cases(out)
    assert {gid: properties(cases[("correct", gid)])["score"] for gid in POINTS} == POINTS
    assert {gid: properties(cases[("stub", gid)])["score"] for gid in POINTS} == dict.fromkeys(POINTS, 0)
    assert all("not implemented yet" in cases[("stub", gid)].find("failure").get("message") for gid in POINTS)
