"""The Gradescope autograder: is the zip in Gradescope's layout, without answers, and does its run_autograder,
unzipped anywhere, give each submission `make grade`'s scores, and a bad one a record instead of a crash?

The zip of every lesson is built and read (fast); one slow round trip unzips lesson 1's into a temporary
Gradescope root and runs run_autograder once per submission of submissions.KINDS, as Gradescope does (with
this environment's Python: setup.sh needs the network), while `make grade` (conftest.py) grades the same.
"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.records import CellGrade, Record
from ddpm_course.instructor.platforms import gradescope
from submissions import FIRST, KINDS, first_lesson_kinds

LESSONS = course.lessons()


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    return {lesson: gradescope.build(lesson, out) for lesson in LESSONS}


def unzipped(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("lesson", LESSONS)
def test_zip_has_gradescopes_layout(lesson, zips):
    """Are setup.sh and run_autograder at the top, executable, installing the pinned requirements and grading
    this lesson with the course's own grading, next to the course folder?"""
    with zipfile.ZipFile(zips[lesson]) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    files = unzipped(zips[lesson])
    assert b'pip" install --quiet -r "$COURSE/requirements.txt"' in files["setup.sh"]
    assert f"gradescope run --lesson {lesson}".encode() in files["run_autograder"]
    assert b"AUTOGRADER_ROOT:-/autograder" in files["run_autograder"]
    assert {"course/nbgrader_config.py", f"course/ddpm_course/{lesson}/hidden.py"} <= set(files)


@pytest.mark.parametrize(("older", "venv_python"), [(True, "python3.11"), (False, "python3")])
def test_setup_makes_its_venv_with_python_3_11_or_later(older, venv_python, tmp_path):
    """Does setup.sh make the venv with the image's python3 where it is 3.11+, and install and use python3.11
    where it is older (Ubuntu 22.04's 3.10)? Run up to its pip installs, with stand-ins for apt-get and the
    Pythons that log their calls."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, code in (("apt-get", 0), ("python3", int(older)), ("python3.11", 0)):  # python3 -c: is it too old?
        (tools / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/calls"\nexit {code}\n')
        (tools / name).chmod(0o755)
    until_pip = gradescope.SETUP.split('"$ROOT/venv/bin/pip"')[0]
    subprocess.run(["bash", "-c", until_pip], env={"PATH": f"{tools}:/usr/bin:/bin", "AUTOGRADER_ROOT": str(tmp_path)},
                   check=True, timeout=30)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert f"{venv_python} -m venv {tmp_path}/venv" in calls
    assert any(c.startswith("apt-get install") and "python3.11-venv" in c for c in calls) == older


@pytest.mark.parametrize("lesson", LESSONS)
def test_zip_holds_no_answer_but_the_references_the_hidden_checks_need(lesson, zips):
    """Is no line of an answer in any notebook of the zip, and are the reference modules of the lesson and
    earlier ones (the hidden checks compare with them) the only files holding an answer's line that no
    other module of the package has?"""
    answers = set().union(*(course.solution_only_lines(name) for name in LESSONS))
    shared = {line.strip() for p in course.PACKAGE.rglob("*.py") if p.name != "reference.py"
              for line in p.read_text().split("\n")}

    files = {name: {line.strip() for line in data.decode("utf-8", "replace").split("\n")}
             for name, data in unzipped(zips[lesson]).items()}
    assert [name for name, lines in files.items() if name.endswith(".ipynb") and lines & answers] == []
    references = [f"course/ddpm_course/{name}/reference.py" for name in course.lessons_up_to(lesson)]
    assert sorted(name for name, lines in files.items() if lines & (answers - shared)) == references


@pytest.mark.parametrize("layout", ["top", "nested", "none"])
def test_the_notebook_is_found_at_the_top_or_deeper_in_a_repository(layout, tmp_path):
    """Is an uploaded notebook graded with its folder (triage notes misnamed or extra files), a repository
    submitted whole graded by its lesson's notebook, and an empty one left to triage to call missing?"""
    notebook = {"top": tmp_path / "mine.ipynb", "nested": tmp_path / "notebooks" / FIRST / f"{FIRST}.ipynb",
                "none": tmp_path / "notes.txt"}[layout]
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text("{}")
    assert gradescope.to_grade(tmp_path, FIRST) == (notebook if layout == "nested" else tmp_path)


def test_results_give_every_cell_a_test_and_a_bad_submission_its_reason():
    """Does results.json list every graded cell of the lesson, with the student's message where one failed, say
    when a check cell was missing, and give a submission that was not graded 0 everywhere with its reason?"""
    points = course.points(FIRST)
    first, *rest = points
    cells = [CellGrade(first, 0, points[first], "CheckFailure: x", "CheckFailure: x\n  Hint: y")]
    graded = gradescope.results(Record("s", FIRST, "graded", 7, 10, "failed: x", cells))
    assert [t["name"] for t in graded["tests"]] == list(points)
    assert graded["tests"][0]["output"] == "CheckFailure: x\n  Hint: y"
    assert {t["output"] for t in graded["tests"][1:]} == {gradescope.MISSING_OUTPUT}
    invalid = gradescope.results(Record("s", FIRST, "invalid", 0, 10, "x.ipynb is not a readable notebook"))
    assert invalid["score"] == 0 and {t["score"] for t in invalid["tests"]} == {0}
    assert all("not a readable notebook" in t["output"] for t in invalid["tests"])


# The real thing, against `make grade`


@pytest.fixture(scope="module")
def autograded(zips, tmp_path_factory, request) -> dict:
    """run_autograder once per submission, each in a Gradescope root of its own, all at once, while `make grade`
    grades the same notebooks here: each run's return code, stdout and results.json, and `make grade`'s records."""
    folder = tmp_path_factory.mktemp("gradescope")
    with zipfile.ZipFile(zips[FIRST]) as archive:
        archive.extractall(folder / "source")
    runs = {}
    for kind, notebook in first_lesson_kinds(folder / "submissions").items():
        root = folder / kind
        (root / "submission").mkdir(parents=True)
        (root / "submission" / notebook.name).write_bytes(notebook.read_bytes())
        (root / "source").symlink_to(folder / "source")
        (root / "venv").symlink_to(sys.prefix)  # stands for the environment setup.sh would install
        runs[kind] = subprocess.Popen(["bash", str(root / "source" / "run_autograder")], cwd=root, text=True,
                                      env={"AUTOGRADER_ROOT": str(root), "PATH": "/usr/bin:/bin", "HOME": str(root)},
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    records = request.getfixturevalue("make_grade")
    done = {kind: (process.communicate(timeout=600)[0], process.returncode) for kind, process in runs.items()}
    return {"folder": folder, "records": records,
            "runs": {kind: {"stdout": out, "returncode": code,
                            "results": json.loads((folder / kind / "results" / "results.json").read_text())}
                     for kind, (out, code) in done.items()}}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_autograder_scores_what_make_grade_scores(kind, autograded):
    """Does results.json give each graded cell `make grade`'s score, the student's message where it failed, and
    `make grade`'s total, for the correct, buggy, untouched and unreadable submissions alike?"""
    run, record = autograded["runs"][kind], autograded["records"][kind]
    assert run["returncode"] == 0, run["stdout"]
    results = run["results"]
    assert results["score"] == record.score
    got = {t["name"]: (t["score"], t["max_score"]) for t in results["tests"]}
    expected = {gid: (0, pts) for gid, pts in course.points(FIRST).items()}
    expected |= {g.grade_id: (g.score, g.max_score) for g in record.cells}
    assert got == expected
    for test in results["tests"]:
        if record.status != "graded":
            assert record.reason in test["output"]
        else:
            assert test["output"] == next(g.output for g in record.cells if g.grade_id == test["name"])


@pytest.mark.slow
def test_autograder_grades_with_the_package_of_the_zip(autograded):
    """Did grading use the course unzipped from the autograder, not this repository's, and restore the hidden
    checks from its grading source (the bug only hidden checks see fails its hidden case)?"""
    course_root = (autograded["folder"] / "source" / "course").resolve()
    assert f"grading {FIRST} with the course in {course_root}" in autograded["runs"]["correct"]["stdout"]
    hidden = autograded["runs"]["buggy"]["results"]["tests"][0]
    assert hidden["score"] == 0 and "failed a hidden case" in hidden["output"]
