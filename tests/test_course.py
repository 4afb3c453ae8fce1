"""The course's layout: are the lessons declared once, in order, and each laid out the same way?"""
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
