"""Shared test settings, and the grading that the routes which grade elsewhere are compared with."""
import os
from pathlib import Path

import pytest

from submissions import FIRST, first_lesson_kinds

# Notebook code and checks plot; tests never open a window.
os.environ.setdefault("MPLBACKEND", "Agg")


# Test modules that share a session fixture's grading batch (below): run in one worker, each batch is graded once.
SHARED_BATCHES = {"test_gradescope": "make_grade", "test_pytest_grading": "make_grade",
                  "test_cheats": "banks", "test_habits": "banks"}
# Test modules with no module fixture, the largest of all, whose tests go to workers a lesson at a time: whole, one
# worker would run them while the other waits.
SPLIT_BY_LESSON = {"test_bank"}
# The banks' per-cell limit, below grading's 120 s so that the cheat that stalls a check costs the suite this long
# once: lesson 2's U-Net cell, graded as grading runs it (every call through the executor's wire), takes 4 s on
# an idle machine and passed 10 s while this suite loaded both cores, which cost an honest notebook its points.
BANKS_TIMEOUT = 30
# Planted in the grading process's environment while the banks are graded: no kernel may see it.
SECRET = "grader-secret-4f1d9c"


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
    """Send each test module whole to one worker, so that its module fixtures (a class graded) run once; the modules
    that share a session's grading batch go together, so that it runs once too."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            if Path(module).stem in SPLIT_BY_LESSON and "[" in nodeid:  # e.g. test_bank.py::test_x[l2_unet-...]
                return f"{module}[{nodeid.split('[', 1)[1].split('-')[0].rstrip(']')}]"
            return SHARED_BATCHES.get(Path(module).stem, module)

    return ByModule(config, log)


@pytest.fixture
def one_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy machine lose several times. (Modules of tiny
    training runs use it for every test: pytestmark = pytest.mark.usefixtures("one_thread").)"""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def make_grade(tmp_path_factory) -> dict:
    """`make grade`'s record of each of submissions.KINDS, graded in one batch by what `make grade` calls
    (grade.grade_apart): the scores that the pytest grading and the Gradescope autograder must give."""
    from ddpm_course.instructor.grading import grade  # here, not above: nbgrader's import would slow every session

    paths = first_lesson_kinds(tmp_path_factory.mktemp("make_grade"))
    # one job: the routes compared with it run beside it, in other processes, on the other cores
    return dict(zip(paths, grade.grade_apart([(FIRST, path) for path in paths.values()], jobs=1)))


@pytest.fixture(scope="session")
def banks(tmp_path_factory) -> dict:
    """The cheat bank's notebooks and the honest bank's, graded in one batch as every route grades them, with a
    secret planted in the grader's environment: the records by notebook name, the autograded notebooks' text, and
    every file of the course that changed meanwhile."""
    import nbformat

    from ddpm_course.instructor.grading import grade
    from ddpm_course.instructor.qa import cheats, habits

    folder = tmp_path_factory.mktemp("banks")
    notebooks = {name: (lesson, notebook) for name, (lesson, _, notebook) in cheats.notebooks().items()}
    shared = habits.notebooks()
    notebooks |= {name: (group[0].lesson, habits.honest(*group)) for name, group in shared.items()}
    submissions = []
    for number, (lesson, notebook) in enumerate(notebooks.values()):
        path = folder / f"notebook{number}" / f"{lesson}.ipynb"
        path.parent.mkdir()
        nbformat.write(notebook, path)
        submissions.append((lesson, path))
    before = course_fingerprint()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DDPM_GRADER_SECRET", SECRET)
        records = grade.grade_apart(submissions, jobs=2, timeout=BANKS_TIMEOUT, keep=folder / "autograded")
    after = course_fingerprint()
    texts = {name: (folder / "autograded" / f"submission{number}" / lesson / f"{lesson}.ipynb").read_text()
             for number, (name, (lesson, _)) in enumerate(notebooks.items())}
    records = dict(zip(notebooks, records))
    records |= {habit.name: records[name] for name, group in shared.items() for habit in group}
    return {"records": records, "texts": texts,
            "changed": sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))}


def course_fingerprint() -> dict[str, str]:
    """A hash of every file of the course but those grading writes (which git ignores)."""
    import hashlib

    from ddpm_course.instructor import course

    found = {}
    for path in sorted(course.ROOT.rglob("*")):
        parts = set(path.relative_to(course.ROOT).parts)
        if path.is_file() and not {".venv", ".git", "__pycache__", ".pytest_cache"} & parts:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
