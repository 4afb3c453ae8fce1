"""The checks themselves, lesson by lesson, run in-process against edited solutions."""
import pytest

from ddpm_course.instructor import bank, course

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
    for gid, result in bank.run_lesson(lesson, stubs=True).items():
        assert result.visible and "not implemented yet" in result.visible, (gid, result.visible)
        assert result.hidden and "not implemented yet" in result.hidden, (gid, result.hidden)


@pytest.mark.parametrize(("lesson", "bug"), BUGS)
def test_bug_loses_the_points_of_the_check_it_breaks(lesson, bug):
    """Does this known bug fail exactly the checks it breaks, with a message that names the mistake?"""
    results = bank.run_lesson(lesson, bug)
    failed = {gid for gid, r in results.items() if not r.passed}
    assert failed == {bug.fails, *bug.also_fails}
    assert bug.says in results[bug.fails].message, results[bug.fails].message


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
