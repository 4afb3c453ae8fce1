"""The course's layout: are the lessons declared once, in order, and each laid out the same way?"""
import ast
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
