"""The cheat bank, graded through the integrity guard in-process (cheats.run): does every cheat score
0 on every lesson and say why, while earning points without the guard, and does no correct notebook
(honest extra cells, every valid alternative) lose a point? test_grade.py grades a few of each
through nbgrader, end to end."""
import pytest

from ddpm_course.checking import HIDDEN_CASE
from ddpm_course.instructor import course
from ddpm_course.instructor.grading.integrity import ERROR
from ddpm_course.instructor.qa import bank, cheats

LESSONS = course.lessons()
CHEATING = [(lesson, cheat) for lesson in LESSONS for cheat in cheats.CHEATS]
# Without the guard each cheat must earn what the bug loses: shown on one lesson, which is enough to
# keep the bank honest (every lesson's graded cells are called the same way).
UNGUARDED = [(course.lessons()[0], cheat) for cheat in cheats.CHEATS]
# The solution with an honest student's extra cells, and every valid alternative as it is.
CORRECT = [(lesson, None) for lesson in LESSONS] + [(lesson, alt) for lesson in LESSONS
                                                     for alt in bank.bank(lesson).ALTERNATIVES]


def score(lesson: str, results: dict) -> float:
    points = course.points(lesson)
    return sum(points[gid] for gid, (passed, _) in results.items() if passed)


@pytest.fixture(scope="module")
def graded() -> dict:
    jobs = ([(lesson, cheats.cheating(lesson, cheat), True) for lesson, cheat in CHEATING]
            + [(lesson, cheats.cheating(lesson, cheat), False) for lesson, cheat in UNGUARDED]
            + [(lesson, cheats.honest(lesson) if alt is None else bank.submission(lesson, alt), True)
               for lesson, alt in CORRECT]
            + [(lesson, cheats.replayed(lesson), True) for lesson in LESSONS])
    keys = ([("guarded", lesson, cheat.name) for lesson, cheat in CHEATING]
            + [("unguarded", lesson, cheat.name) for lesson, cheat in UNGUARDED]
            + [("correct", lesson, alt.name if alt else "solution") for lesson, alt in CORRECT]
            + [("replayed", lesson, cheats.REPLAY.name) for lesson in LESSONS])
    return dict(zip(keys, cheats.run(jobs)))


@pytest.mark.slow
@pytest.mark.parametrize(("lesson", "cheat"), CHEATING, ids=[f"{lesson}-{c.name}" for lesson, c in CHEATING])
def test_a_cheat_scores_zero_and_says_why(lesson, cheat, graded):
    """Does the cheating notebook score 0, every graded cell saying GradingIntegrityError?"""
    results = graded[("guarded", lesson, cheat.name)]
    assert score(lesson, results) == 0
    assert all(ERROR in message for _, message in results.values()), results


@pytest.mark.slow
@pytest.mark.parametrize(("lesson", "cheat"), UNGUARDED, ids=[c.name for _, c in UNGUARDED])
def test_without_the_guard_the_cheat_would_pay(lesson, cheat, graded):
    """Is each cheat real: without the guard, does it earn the points the bug in its notebook loses?"""
    bug = bank.bank(lesson).BUGS[0]
    assert score(lesson, graded[("unguarded", lesson, cheat.name)]) == sum(course.points(lesson).values()), bug


@pytest.mark.slow
@pytest.mark.parametrize(("lesson", "alternative"), CORRECT,
                         ids=[f"{lesson}-{alt.name if alt else 'solution'}" for lesson, alt in CORRECT])
def test_a_correct_notebook_with_extra_cells_keeps_every_point(lesson, alternative, graded):
    """Do every valid alternative, and the solution with an honest student's extra cells (helpers, unusual
    imports, their own module, seeds, deepcopy, tqdm, a plot, an optimizer), keep full marks?"""
    results = graded[("correct", lesson, alternative.name if alternative else "solution")]
    assert score(lesson, results) == sum(course.points(lesson).values()), results


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_outputs_replayed_from_the_reference_earn_nothing(lesson, graded):
    """Do outputs pasted from the reference for the visible inputs, which patch nothing, still fail the exercise:
    its hidden cases use inputs of their own (or, where the bug says so, the visible check sees more than outputs)?"""
    bug = bank.bank(lesson).BUGS[0]
    results = graded[("replayed", lesson, cheats.REPLAY.name)]
    assert score(lesson, results) == sum(course.points(lesson).values()) - course.points(lesson)[bug.fails]
    assert HIDDEN_CASE in results[bug.fails][1] or bug.replay_fails_visibly, results[bug.fails]


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_cheat_applies_to_every_lesson(lesson):
    """Does every cheat build a notebook for every lesson, naming the exercise the lesson's first bug breaks?"""
    context = cheats.Context.of(lesson)
    for cheat in cheats.CHEATS:
        sources = "\n".join(c.source for c in cheats.cheating(lesson, cheat).cells)
        assert cheat.code.format(lesson=lesson, subject=context.subject, checks=list(context.checks)) in sources
