"""The honest bank (qa/habits.py), graded as every route grades: does each correct notebook keep every point with
the unusual but legitimate code students write (autoreload, copied cells, profilers, threads, magics, ...)?"""
from __future__ import annotations

import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.qa import habits

pytestmark = pytest.mark.slow


def test_the_bank_holds_twenty_habits_and_the_issues_five():
    """Are there at least 20 honest notebooks, among them autoreload, a copied cell, set_default_device, a profiler
    and gradients switched off?"""
    names = " ".join(h.name for h in habits.HABITS)
    assert len(habits.HABITS) >= 20
    for must in ("autoreload", "copied and pasted", "set_default_device", "%prun", "set_grad_enabled(False)"):
        assert must in names, must


@pytest.mark.parametrize("habit", habits.HABITS, ids=lambda h: h.name)
def test_an_honest_habit_keeps_every_point(habit, banks):
    """Does the correct notebook with this habit (and the few others it shares a notebook with: habits.notebooks)
    get full marks, graded (with the cheat bank: conftest.banks)?"""
    record = banks["records"][habit.name]
    assert (record.status, record.score) == ("graded", sum(course.points(habit.lesson).values())), record.reason
