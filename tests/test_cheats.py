"""The cheat bank (qa/cheats.py, qa/cheat_list.py), graded as every route grades (grade.grade_apart: nbgrader, the
sandboxed executor, the checker; conftest.banks grades them with the honest bank): does no cheat earn a point on any
lesson, show an answer or a secret of the grading machine in what it prints, or change the course behind grading's
back?"""
from __future__ import annotations

import nbformat
import pytest

from conftest import SECRET
from ddpm_course.instructor.grading import sandbox
from ddpm_course.instructor.qa import cheats
from ddpm_course.instructor.qa.cheat_list import CHEATS
from leaks import answer_leaks

NOTEBOOKS = cheats.notebooks()
# The file and network cheats meet bubblewrap's sandbox on CI; where it is missing, files the user can read are in
# reach of graded code (README, "Security"), and this bank says so instead of failing.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    sandbox.isolation() != "bwrap", reason=f"the executor's isolation here is {sandbox.isolation()!r}, not bubblewrap: "
                                           "install bubblewrap (Debian: apt-get install bubblewrap)")]


def test_every_cheat_is_in_a_notebook_of_every_cheated_lesson_it_applies_to():
    """Is each cheat of the bank graded on every lesson of cheats.CHEATED it applies to?"""
    graded_on = {(lesson, name) for lesson, names, _ in NOTEBOOKS.values() for name in names}
    assert {(lesson, c.name) for c in CHEATS for lesson in cheats.CHEATED if c.applies(lesson)} <= graded_on
    assert len(CHEATS) + 1 >= 30  # the bank and the replayed outputs: at least 30 attacks


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cheat_earns_a_point(name, banks):
    """Does each cheating notebook score no more than the same notebook without its cheats, graded in full?"""
    lesson = NOTEBOOKS[name][0]
    record = banks["records"][name]
    assert record.status == "graded", record.reason
    assert record.score <= cheats.baseline(lesson), (record.score, record.reason)
    if name.endswith("-shared"):  # its cheats break nothing else: any theft that worked would show in the score
        assert record.score == cheats.baseline(lesson), record.reason


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cheat_shows_an_answer_or_a_secret(name, banks):
    """Do a cheating notebook's outputs, which its feedback shows, hold no line of an answer of its lesson, and
    nothing of the grading process's environment?"""
    lesson, text = NOTEBOOKS[name][0], banks["texts"][name]
    outputs = "\n".join(str(output) for cell in nbformat.reads(text, as_version=4).cells
                        for output in cell.get("outputs", []))
    assert answer_leaks({"outputs": outputs}, lesson) == []
    assert SECRET not in outputs


def test_no_cheat_changes_the_course(banks):
    """Is every file of the course as it was before the cheats were graded, and none added (a late writer
    included)?"""
    assert banks["changed"] == []
