"""The course's layout: are the lessons declared once, in order, and each laid out the same way?"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ddpm_course.instructor import course, roles

LESSONS = course.lessons()


def test_the_declared_lessons_are_exactly_those_with_a_source_notebook():
    """Does course.LESSONS list every solutions/<name>/<name>.ipynb, and nothing else?"""
    found = {p.parent.name for p in course.SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name}
    assert set(LESSONS) == found and len(LESSONS) == len(found)


def test_lesson_order_is_the_declared_one_not_alphabetical():
    """Is the order the declared one (an l10_ after l9_), numbered from 1 without a gap?"""
    assert [int(name.split("_")[0][1:]) for name in LESSONS] == list(range(1, len(LESSONS) + 1))


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_folder_has_the_same_roles(lesson):
    """Does each lesson hold the roles the role table requires, and beyond them only files of its other roles
    (checks split by topic, stand-ins, fakes, closed forms)?"""
    files = list((course.PACKAGE / lesson).glob("*.py"))
    assert {role.pattern for role in roles.LESSON_ROLES if role.required} <= {p.name for p in files}
    assert [p.name for p in files if roles.role_of(p) is None] == []


# The stages of instructor/, each of which may import only those before it: grading is the core every route
# shares, release makes assignments with nbgrader as grading does, the platforms package both, qa tests them all.
STAGES = ("grading", "authoring", "platforms", "qa")


@pytest.mark.parametrize("stage", STAGES)
def test_instructor_stages_import_one_way(stage):
    """Does each stage of instructor/ import only the stages before it (grading none), so that the grader folder,
    which ships grading/ whole, never needs authoring, platform or qa code?"""
    later = "|".join(STAGES[STAGES.index(stage) + 1:]) or "$^"
    offenders = [p.name for p in (course.PACKAGE / "instructor" / stage).glob("*.py")
                 if re.search(rf"\bddpm_course\.instructor\.({later})\b", p.read_text())]
    assert offenders == []


@pytest.mark.parametrize("lesson", LESSONS)
def test_lessons_never_import_instructor_tooling(lesson):
    """Do imports point one way: no lesson module imports ddpm_course.instructor?"""
    offenders = [p.name for p in (course.PACKAGE / lesson).glob("*.py") if "ddpm_course.instructor" in p.read_text()]
    assert offenders == []


def test_solution_markers_are_stripped_and_nothing_else():
    """Does stripping the solution delimiters keep every other line, indentation included?"""
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert course.strip_solution_markers(source) == "def f():\n    return 1"


def tables_keyed_by_lesson(paths: list[Path]) -> dict[str, list[str]]:
    """`file:line` -> the lessons named by every table of the code that is keyed by lesson: a dict literal with a
    lesson's name among its keys, or a zip of course.lessons() with a literal list (which drops what it lacks)."""
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in LESSONS]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "zip" and any(
                    "lessons" in ast.unparse(arg) for arg in node.args):
                # the other side's literal, even inside a generator over it: as many lessons as it has items
                literals = [n for arg in node.args if "lessons" not in ast.unparse(arg) for n in ast.walk(arg)
                            if isinstance(n, (ast.List, ast.Tuple))]
                keys = LESSONS[:len(literals[0].elts)] if literals else []
            else:
                continue
            if keys:
                where = path.relative_to(course.ROOT) if path.is_relative_to(course.ROOT) else path
                found[f"{where}:{node.lineno}"] = keys
    return found


def test_every_table_keyed_by_lesson_covers_every_lesson():
    """Does every table of the package and the tests that is keyed by lesson name every lesson of course.LESSONS,
    so that a lesson added there is never silently left out?"""
    paths = [p for p in [*course.PACKAGE.rglob("*.py"), *(course.ROOT / "tests").rglob("*.py")]
             if "__pycache__" not in p.parts]
    partial = {where: keys for where, keys in tables_keyed_by_lesson(paths).items() if sorted(keys) != sorted(LESSONS)}
    assert partial == {}


def test_a_table_that_leaves_a_lesson_out_is_found(tmp_path):
    """Are a dict literal and a zip over the lessons that miss a lesson both found (so the test above can fail)?"""
    code = tmp_path / "tables.py"
    code.write_text(f"A = {{{LESSONS[0]!r}: 1}}\nB = dict(zip(course.lessons(), (f(x) for x in ('x',))))\n"
                    "C = {'other': 2}\n")
    assert tables_keyed_by_lesson([code]) == {f"{code}:1": [LESSONS[0]], f"{code}:2": [LESSONS[0]]}


# The acid test: a lesson is a folder, a notebook and one line. In a copy of the course, lesson 1 is copied under
# a new name (the name replaced inside its files) and added to LESSONS; then, in that copy, as a maintainer would:
NEW = f"l{len(LESSONS) + 1}_acid"
ACID = """
import json, sys
from pathlib import Path
from ddpm_course.instructor import course
from ddpm_course.instructor.authoring import release
from ddpm_course.instructor.grading import grade
from ddpm_course.instructor.platforms import classroom, gradescope, student_bundle
from ddpm_course.instructor.qa import bank
import nbformat

lesson, dist = sys.argv[1], Path(sys.argv[2])
sys.argv = ["release", "--lesson", lesson]
release.main()  # make release LESSON=...: the reference code, the release, the README's blocks
solution = bank.run_lesson(lesson)
firsts = {bug.fails: bug for bug in reversed(bank.bank(lesson).BUGS)}.values()  # the first bug of each check
bugs = {bug.name: bug.fails in {gid for gid, run in bank.run_lesson(lesson, bug).items() if not run.passed}
        for bug in firsts}
first = bank.bank(lesson).BUGS[0]
for name, mutation in (("solution", None), ("buggy", first)):
    nbformat.write(bank.submission(lesson, mutation), dist / f"{name}.ipynb")
records = grade.grade_apart([(lesson, dist / "solution.ipynb"), (lesson, dist / "buggy.ipynb")], jobs=2)
print(json.dumps({
    "root": str(course.ROOT), "lessons": course.lessons(), "points": course.points(lesson),
    "failing": sorted(gid for gid, run in solution.items() if not run.passed), "bugs caught": bugs,
    "first bug fails": first.fails, "scores": [[r.status, r.score, r.max_score] for r in records],
    "bundle": student_bundle.build(lesson, dist).name, "gradescope": gradescope.build(lesson, dist).name,
    "classroom": [p.name for p in classroom.build(lesson, dist, "teacher/grader")]}))
"""


def copy_of_the_course(into: Path) -> Path:
    """The repository's files, without what git ignores (the virtualenv, caches, dist/) or git itself."""
    shutil.copytree(course.ROOT, into, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".ipynb_checkpoints", "dist", "runs", "data",
        "submitted", "autograded", "feedback", "reports", "downloaded", "gradebook.db", "grades.csv"))
    return into


def added_lesson(root: Path, new: str) -> None:
    """Copy lesson 1's package folder and solution notebook under `new`, the name replaced inside, and add `new`
    to LESSONS: nothing else."""
    first = LESSONS[0]
    for folder in (root / "ddpm_course", root / "solutions"):
        shutil.copytree(folder / first, folder / new, ignore=shutil.ignore_patterns("__pycache__"))
        for path in sorted((folder / new).iterdir()):
            path.write_text(path.read_text().replace(first, new))
            path.rename(path.with_name(path.name.replace(first, new)))
    declaration = root / "ddpm_course" / "instructor" / "course.py"
    text, lines = re.subn(r"^(LESSONS = \(.*)\)$", rf'\1, "{new}")', declaration.read_text(), flags=re.MULTILINE)
    assert lines == 1, "LESSONS is one line of course.py"
    declaration.write_text(text)


@pytest.mark.slow
def test_a_lesson_is_a_folder_a_notebook_and_one_line(tmp_path):
    """With lesson 1's folder and notebook copied under a new name and one line of LESSONS changed, does the copy
    release the new lesson, pass its solution and fail the first bug of each check in the bank, grade its notebooks, and
    build its student bundle, Gradescope zip and GitHub Classroom template, with no other file touched?"""
    root = copy_of_the_course(tmp_path / "course")
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    added_lesson(root, NEW)
    (tmp_path / "dist").mkdir()
    result = subprocess.run([sys.executable, "-c", ACID, NEW, str(tmp_path / "dist")], cwd=root, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().split("\n")[-1])
    assert out["root"] == str(root) and out["lessons"] == [*LESSONS, NEW]
    assert out["failing"] == [] and out["bugs caught"] and all(out["bugs caught"].values()), out["bugs caught"]
    full = sum(out["points"].values())
    assert out["scores"] == [["graded", full, full], ["graded", full - out["points"][out["first bug fails"]], full]]
    assert out["bundle"] == f"ddpm-course-{NEW}.zip" and out["gradescope"] == f"gradescope-{NEW}.zip"
    assert out["classroom"] == [f"github-classroom-{NEW}", f"github-classroom-{NEW}-grader"]
    with zipfile.ZipFile(tmp_path / "dist" / out["bundle"]) as archive:
        bundled = {name.split("/", 1)[1] for name in archive.namelist()}
    assert {f"notebooks/{NEW}/{NEW}.ipynb", f"ddpm_course/{NEW}/checks.py"} <= bundled
    assert not {f"ddpm_course/{NEW}/hidden.py", f"ddpm_course/{NEW}/reference.py"} & bundled
    # what changed besides the new lesson's files: its LESSONS line, and the README's generated blocks
    changed = {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
               and before.get(p.relative_to(root)) != p.read_bytes()}
    assert sorted(str(p) for p in changed if NEW not in p.parts) == ["README.md", "ddpm_course/instructor/course.py"]
    assert f"`notebooks/{NEW}/`" in (root / "README.md").read_text()
    # and the copy's own layout tests (lesson names, roles, tables keyed by lesson, README blocks) pass as they are
    layout = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                             "tests/test_course.py", "tests/test_roles.py", "tests/test_readme.py"], cwd=root,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    assert layout.returncode == 0, layout.stdout[-3000:]
