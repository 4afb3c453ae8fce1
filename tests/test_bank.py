"""The checks themselves, lesson by lesson, run in-process against edited solutions."""
import pytest

from ddpm_course.checking import HIDDEN_CASE
from ddpm_course.instructor import course
from ddpm_course.instructor.qa import bank

LESSONS = course.lessons()
BUGS = [pytest.param(lesson, bug, id=f"{lesson}-{bug.cell}-{bug.name}")
        for lesson in LESSONS for bug in bank.bank(lesson).BUGS]
ALTERNATIVES = [pytest.param(lesson, alt, id=f"{lesson}-{alt.cell}-{alt.name}")
                for lesson in LESSONS for alt in bank.bank(lesson).ALTERNATIVES]


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_passes_every_check(lesson):
    """Does the reference solution pass every visible and hidden check?"""
    failed = {gid: r.message for gid, r in bank.run_lesson(lesson).items() if not r.passed}
    assert not failed


@pytest.mark.parametrize("lesson", LESSONS)
def test_stubs_fail_every_check_cleanly(lesson):
    """Do the untouched stubs fail every visible and every hidden check with 'not implemented yet'?"""
    for gid, result in bank.run_lesson(lesson, stubs=True, every_part=True).items():
        assert result.visible and "not implemented yet" in result.visible, (gid, result.visible)
        assert result.hidden and "not implemented yet" in result.hidden, (gid, result.hidden)


@pytest.mark.parametrize(("lesson", "bug"), BUGS)
def test_bug_costs_its_own_exercise_alone_and_shows_in_the_notebook(lesson, bug):
    """Does this known bug fail its own exercise's check and no other, visibly (or, where the bank says
    why it cannot be, in a hidden case that says so), with a message that names the mistake?"""
    results = bank.run_lesson(lesson, bug)
    failed = {gid for gid, r in results.items() if not r.passed}
    # one bug costs one exercise: the Unet's wiring and its properties grade the same cell
    assert bug.fails in failed and failed <= bank.exercise_checks(lesson)[bug.cell], failed
    result = results[bug.fails]
    if bug.hidden_only is None:
        # a visible pass must predict the grade: the notebook itself shows the mistake
        assert result.visible and bug.says in result.visible, (result.visible, result.hidden)
    else:
        # a stale hidden_only marker would hide a bug the visible check now catches
        assert result.visible is None, result.visible
        assert HIDDEN_CASE in result.hidden and bug.says in result.hidden, result.hidden


@pytest.mark.parametrize(("lesson", "alternative"), ALTERNATIVES)
def test_valid_alternative_gets_full_marks(lesson, alternative):
    """Does this different but correct implementation pass every check?"""
    failed = {gid: r.message for gid, r in bank.run_lesson(lesson, alternative).items() if not r.passed}
    assert not failed


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_graded_check_has_four_known_bugs(lesson):
    """Is every graded check of the lesson the target of at least four known bugs?"""
    targets = [bug.fails for bug in bank.bank(lesson).BUGS]
    assert {gid: targets.count(gid) for gid in course.points(lesson) if targets.count(gid) < 4} == {}


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_cell_run_is_graded_like_nbgrader_grades_it(lesson):
    """Does the bank give a graded cell all its points when both parts pass, none when one fails,
    with the failure as its message, as nbgrader would record it?"""
    bug = bank.bank(lesson).BUGS[0]
    solution, buggy = bank.run_lesson(lesson), bank.run_lesson(lesson, bug)
    assert {gid: (r.score, r.message) for gid, r in solution.items()} == {
        gid: (pts, "") for gid, pts in course.points(lesson).items()}
    failed = buggy[bug.fails]
    assert (failed.score, failed.max_score) == (0, course.points(lesson)[bug.fails])
    assert failed.message == (failed.visible or failed.hidden)
