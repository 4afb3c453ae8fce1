"""Shared test settings, and the grading that the routes which grade elsewhere are compared with."""
import os

import pytest

from submissions import FIRST, first_lesson_kinds

# Notebook code and checks plot; tests never open a window.
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(items) -> None:
    """A test that reads the class-scale gradings of test_grade.py waits minutes for them: slow."""
    for item in items:
        if "runs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def make_grade(tmp_path_factory) -> dict:
    """`make grade`'s record of each of submissions.KINDS, graded in one batch by what `make grade` calls
    (grade.grade_apart): the scores that the pytest grading and the Gradescope autograder must give."""
    from ddpm_course.instructor.grading import grade  # here, not above: nbgrader's import would slow every session

    paths = first_lesson_kinds(tmp_path_factory.mktemp("make_grade"))
    # one job: the routes compared with it run beside it, in other processes, on the other cores
    return dict(zip(paths, grade.grade_apart([(FIRST, path) for path in paths.values()], jobs=1)))
