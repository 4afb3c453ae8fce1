"""Shared test settings, and the grading that the routes which grade elsewhere are compared with."""
import os
from pathlib import Path

import pytest

from submissions import FIRST, first_lesson_kinds

# Notebook code and checks plot; tests never open a window.
os.environ.setdefault("MPLBACKEND", "Agg")


# Test modules that share the session's `make grade` batch (make_grade below): run in one worker, they grade it once.
SHARE_MAKE_GRADE = ("test_gradescope", "test_pytest_grading")


def pytest_collection_modifyitems(items) -> None:
    """A test that reads the class-scale gradings of test_grade.py waits minutes for them: slow. The modules that
    run such waits go first, the longest first, so that in parallel workers (below) no worker is left with one
    at the end."""
    for item in items:
        if "runs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    longest = {item.path for item in items if "runs" in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: (item.path not in longest, item.path not in slow))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: `make test` runs a worker per core
def pytest_xdist_make_scheduler(config, log):
    """Send each test module whole to one worker, so that its module fixtures (a class graded, the cheat bank run)
    run once; the modules that share the session's `make grade` batch go together, so that it runs once too."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return "make_grade" if Path(module).stem in SHARE_MAKE_GRADE else module

    return ByModule(config, log)


@pytest.fixture(scope="session")
def make_grade(tmp_path_factory) -> dict:
    """`make grade`'s record of each of submissions.KINDS, graded in one batch by what `make grade` calls
    (grade.grade_apart): the scores that the pytest grading and the Gradescope autograder must give."""
    from ddpm_course.instructor.grading import grade  # here, not above: nbgrader's import would slow every session

    paths = first_lesson_kinds(tmp_path_factory.mktemp("make_grade"))
    # one job: the routes compared with it run beside it, in other processes, on the other cores
    return dict(zip(paths, grade.grade_apart([(FIRST, path) for path in paths.values()], jobs=1)))
