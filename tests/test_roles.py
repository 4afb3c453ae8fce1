"""The role table: does every file of the package have a role, and does each audience get exactly what its
rules say, for the real package and for a made-up one with every role (fakes.py included)?"""
from __future__ import annotations

from pathlib import Path

import pytest

from ddpm_course.instructor import course, roles

LESSONS = course.lessons()
LESSON_FILES = ("__init__.py", "checks.py", "checks_topic.py", "fakes.py", "closed_forms.py", "reference.py",
                "hidden.py", "bugs.py")
PACKAGE_FILES = ("__init__.py", "checking.py", "layer_checks.py", "data.py", "plotting.py", "cells.py",
                 "grading_kernel.py", "progress.py", "pytest_grading.py", "mutations.py", "instructor/__init__.py",
                 "instructor/course.py", "instructor/roles.py", "instructor/grading/__init__.py",
                 "instructor/grading/grade.py", "instructor/grading/a_new_grading_module.py",
                 "instructor/platforms/__init__.py", "instructor/platforms/gradescope.py",
                 "instructor/platforms/grader_folder.py", "instructor/platforms/files.py",
                 "instructor/platforms/student_bundle.py",
                 "instructor/authoring/release.py", "instructor/qa/bank.py", "executor/__init__.py",
                 "executor/agent.py")


@pytest.fixture
def every_role(tmp_path, monkeypatch) -> Path:
    """A package with a file of every role in every lesson, the package's modules, and two files of no role."""
    for name in PACKAGE_FILES + ("new_helper.py",):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for lesson in LESSONS:
        (tmp_path / lesson).mkdir()
        for name in LESSON_FILES + ("answers.py",):
            (tmp_path / lesson / name).write_text("")
    monkeypatch.setattr(course, "PACKAGE", tmp_path)
    return tmp_path


def names(lesson: str, audience: str) -> set[str]:
    return {p.relative_to(course.PACKAGE).as_posix() for p in roles.package_files(lesson, audience)}


def of(lessons: list[str], *files: str) -> set[str]:
    return {f"{lesson}/{name}" for lesson in lessons for name in files}


PUBLIC = {"__init__.py", "checking.py", "layer_checks.py", "data.py", "plotting.py"}
VISIBLE = ("__init__.py", "checks.py", "checks_topic.py", "fakes.py")
# the students' and graders' tools: the visible grading and what it reads
TOOLS = {"cells.py", "grading_kernel.py", "progress.py", "pytest_grading.py"}


@pytest.mark.parametrize("lesson", LESSONS)
def test_students_get_visible_checks_and_what_they_use_up_to_the_lesson_and_earlier_answers(lesson, every_role):
    """Does a student of lesson L get the framework, the visible grading, the visible checks, fakes and closed forms
    up to L, the reference solutions before L, and no hidden check, bug, tooling or grading agent?"""
    upto = course.lessons_up_to(lesson)
    assert names(lesson, roles.STUDENT) == (PUBLIC | TOOLS
                                             | of(upto, *VISIBLE, "closed_forms.py")
                                             | of(course.lessons_before(lesson), "reference.py"))


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_executor_gets_what_students_get_but_nothing_that_computes_an_answer(lesson, every_role):
    """Does what runs beside a graded notebook of lesson L hold what students get, minus closed forms and the
    grading tools, plus the agent that answers the checker?"""
    executor = names(lesson, roles.EXECUTOR)
    agent = {"executor/__init__.py", "executor/agent.py"}
    assert executor == PUBLIC | agent | of(course.lessons_up_to(lesson), *VISIBLE) | of(course.lessons_before(lesson),
                                                                                        "reference.py")
    assert executor - agent <= names(lesson, roles.STUDENT)


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_grader_gets_everything_up_to_the_lesson_but_the_bug_bank_and_the_grading_tooling(lesson, every_role):
    """Does the grader folder of lesson L get every file of the lessons up to L but bugs.py, the package's modules
    but mutations.py, and of the tooling grading/ whole and what Gradescope's run needs?"""
    tooling = {"instructor/__init__.py", "instructor/course.py", "instructor/roles.py",
               "instructor/grading/__init__.py", "instructor/grading/grade.py",
               "instructor/grading/a_new_grading_module.py", "instructor/platforms/__init__.py",
               "instructor/platforms/gradescope.py", "instructor/platforms/grader_folder.py",
               "instructor/platforms/files.py"}
    assert names(lesson, roles.GRADER) == (PUBLIC | TOOLS | tooling | {"executor/__init__.py", "executor/agent.py"}
                                            | of(course.lessons_up_to(lesson), *set(LESSON_FILES) - {"bugs.py"}))


@pytest.mark.parametrize("audience", roles.AUDIENCES)
def test_a_file_of_no_role_stays_out_of_everything(audience, every_role):
    """Does a module no role matches (top level, or in a lesson's folder) stay out of what every audience gets?"""
    got = {p.name for lesson in LESSONS for p in roles.package_files(lesson, audience)}
    assert "new_helper.py" not in got and "answers.py" not in got


def test_every_file_of_the_package_has_a_role():
    """Has every module of ddpm_course been given a role, so that each audience gets it or not by decision?"""
    undecided = [p.relative_to(course.PACKAGE).as_posix() for p in course.PACKAGE.rglob("*.py")
                 if "__pycache__" not in p.parts and roles.role_of(p) is None]
    assert undecided == [], "give each a role in ddpm_course/instructor/roles.py"


def test_every_role_says_why_with_known_rules():
    """Does every role give each audience a known rule, say why in a line, and (for the package's own modules,
    which belong to no lesson) never say "before L"?"""
    for role in roles.LESSON_ROLES + roles.PACKAGE_ROLES:
        assert {role.rule(audience) for audience in roles.AUDIENCES} <= {roles.UP_TO, roles.BEFORE, roles.NEVER}
        assert role.why and "\n" not in role.why
    assert all(roles.BEFORE not in (r.student, r.executor, r.grader) for r in roles.PACKAGE_ROLES)


def test_the_modules_that_hold_answers_are_those_never_run_beside_a_graded_notebook():
    """Are the answer modules (what may never run beside a graded notebook) the reference, hidden checks, closed
    forms and bugs, each a single file?"""
    assert sorted(roles.answer_modules()) == ["bugs", "closed_forms", "hidden", "reference"]


def test_an_unknown_audience_is_refused():
    """Is a misspelt audience an error, rather than an empty list of files?"""
    with pytest.raises(ValueError, match="no audience"):
        roles.package_files(LESSONS[0], "students")
