"""The student bundle: does it hold what students need up to a lesson, and no hidden check or answer?

Builds every lesson's bundle (a fraction of a second each) and runs lesson 1's visible checks
from an unzipped bundle in an isolated interpreter (about 3 s, marked slow).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.platforms import student_bundle
from leaks import answer_leaks, hidden_leaks

LESSONS = course.lessons()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    return {lesson: student_bundle.build(lesson, out) for lesson in LESSONS}


def files(path: Path) -> dict[str, str]:
    """Path inside the bundle folder -> text."""
    with zipfile.ZipFile(path) as archive:
        return {name.split("/", 1)[1]: archive.read(name).decode("utf-8", "replace") for name in archive.namelist()}


@pytest.mark.parametrize("lesson", LESSONS)
def test_bundle_holds_what_students_need(lesson, bundles):
    """Does the bundle hold the notebooks up to the lesson, earlier lessons' references, the package (the
    visible grading included), the assets and the setup files?"""
    names = set(files(bundles[lesson]))
    upto = course.lessons_up_to(lesson)
    needed = {"README.md", "requirements.txt", "pyproject.toml", "ddpm_course/__init__.py", "ddpm_course/checking.py",
              "ddpm_course/progress.py", "ddpm_course/pytest_grading.py"}
    needed |= {f"notebooks/{name}/{name}.ipynb" for name in upto}
    needed |= {f"ddpm_course/{name}/reference.py" for name in upto[:-1]}
    needed |= {p.relative_to(course.ROOT).as_posix() for p in (course.ROOT / "assets").iterdir()}
    assert needed <= names
    assert not any(name.startswith(f"notebooks/{later}/") for later in LESSONS[len(upto):] for name in names)


@pytest.mark.parametrize("lesson", LESSONS)
def test_bundle_holds_nothing_git_ignores(lesson, bundles):
    """Does the bundle leave out what running the course leaves behind (checkpoints, data, caches)?"""
    if not (course.ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = [name for name in files(bundles[lesson]) if name != "README.md"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=course.ROOT,
                             capture_output=True, text=True).stdout.split()
    assert ignored == []


@pytest.mark.parametrize("lesson", LESSONS)
def test_bundle_holds_no_hidden_check_or_instructor_code(lesson, bundles):
    """Are hidden.py, bugs.py, instructor/ and solutions/ absent, and no hidden-only line anywhere in the bundle?"""
    content = files(bundles[lesson])
    assert [n for n in content if n.endswith(("hidden.py", "bugs.py")) or "instructor/" in n or "solutions/" in n] == []
    assert "BEGIN HIDDEN TESTS" not in "\n".join(content.values())
    assert hidden_leaks(content) == []


@pytest.mark.parametrize("lesson", LESSONS)
def test_bundle_holds_no_answer_to_this_or_a_later_lesson(lesson, bundles):
    """Is every reference.py of this and later lessons absent, and no line of their solutions anywhere?"""
    content = files(bundles[lesson])
    assert [n for n in content if any(n == f"ddpm_course/{name}/reference.py"
                                      for name in course.lessons_from(lesson))] == []
    assert answer_leaks(content, lesson) == []


RUN_CELLS = """
import importlib.util, json, sys
sys.path[:0] = json.loads(sys.argv[1])
import ddpm_course
out = {"package": ddpm_course.__file__,
       "instructor": importlib.util.find_spec("ddpm_course.instructor") is not None,
       "hidden": importlib.util.find_spec(f"ddpm_course.{sys.argv[3]}.hidden") is not None}
for variant, cells in json.loads(open(sys.argv[2]).read()).items():
    namespace, results = {"__name__": "__main__"}, {}
    for grade_id, source, graded in cells:
        try:
            exec(compile(source, grade_id or "cell", "exec"), namespace)
            results[grade_id] = None
        except Exception as err:
            if not graded:
                raise
            results[grade_id] = f"{type(err).__name__}: {err}"
    out[variant] = {gid: message for gid, message in results.items() if gid}
print(json.dumps(out))
"""


def code_to_run(notebook, answers: dict[str, str] | None) -> list:
    """The export cells (answers filled in, if given) and graded cells of a released notebook."""
    cells = []
    for cell in notebook.cells:
        gid = course.grade_id(cell)
        if course.is_export(cell) or course.is_graded_test(cell):
            source = answers[gid] if answers and gid in answers else cell.source
            cells.append([gid if course.is_graded_test(cell) else None, source, course.is_graded_test(cell)])
    return cells


@pytest.mark.slow
def test_first_lesson_bundle_runs_its_visible_checks_in_isolation(bundles, tmp_path):
    """Unzipped alone, with only its own package importable, do lesson 1's visible checks pass the
    solution and fail the stubs with "not implemented yet"?"""
    lesson = LESSONS[0]
    with zipfile.ZipFile(bundles[lesson]) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / student_bundle.bundle_name(lesson)
    released = course.read(folder / "notebooks" / lesson / f"{lesson}.ipynb")
    answers = {course.grade_id(c): course.strip_solution_markers(c.source)
               for c in course.read(course.solution_path(lesson)).cells
               if course.is_answer(c)}
    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps({"solution": code_to_run(released, answers), "stubs": code_to_run(released, None)}))
    # -I -S: no environment, no user site, no .pth files (so not the repository's editable install);
    # the bundle, then the venv's libraries, are all the interpreter sees
    paths = [str(folder), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    result = subprocess.run([sys.executable, "-I", "-S", "-c", RUN_CELLS, json.dumps(paths), str(cells), lesson],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"MPLBACKEND": "Agg", "MPLCONFIGDIR": str(tmp_path / "mpl"), "PATH": ""})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().split("\n")[-1])
    assert Path(out["package"]).is_relative_to(folder)
    assert not out["instructor"] and not out["hidden"]
    graded = [course.grade_id(c) for c in released.cells if course.is_graded_test(c)]
    assert out["solution"] == {gid: None for gid in graded}
    assert sorted(out["stubs"]) == sorted(graded)
    assert all("not implemented yet" in message for message in out["stubs"].values()), out["stubs"]


def test_the_readmes_bundle_sizes_are_what_the_bundles_measure(bundles):
    """Are the sizes the README gives, for lesson 1's bundle and the whole course's, within 10% of the bundles'?"""
    text = " ".join((course.ROOT / "README.md").read_text().split())
    said = re.search(r"(\d+) KiB for lesson 1, about (\d+) KiB for the whole course", text)
    assert said, "the README gives the bundles' sizes"
    for figure, lesson in zip(said.groups(), (LESSONS[0], LESSONS[-1])):
        measured = bundles[lesson].stat().st_size / 1024
        assert abs(int(figure) - measured) <= 0.1 * measured, (lesson, figure, round(measured))
