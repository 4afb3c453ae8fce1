"""Grade notebooks with pytest: one test per graded cell, named by its grade_id.

    python -m pytest -p ddpm_course.pytest_grading [--checks all|visible] NOTEBOOK.ipynb ... [pytest options]
    make pytest-grade NB=path/to/l1_blocks.ipynb [ARGS="--junitxml=grades.xml"]

--checks all (the default; instructors and graders): the notebooks are autograded in one batch by the
course's own grading, `ddpm_course.instructor.grading.grade` (nbgrader restores the check cells with their
hidden tests, in kernels with the limits of `make autograde`), and each test reports its cell: the scores
are `make grade`'s. It needs the instructor's copy of the package, which students do not get.
--checks visible (students; GitHub Classroom without the hidden checks): each notebook runs in a fresh
kernel (`ddpm_course.progress`), and a test passes when its check cell ran without an error. As nbgrader
restores locked cells, the check cells of the released notebook go back in first, by grade_id (a check
replaced by `pass` runs the real check; a deleted one scores 0): the release is --release, or else
notebooks/<lesson>/<lesson>.ipynb beside the package (the student bundle, the Classroom template) or in
the current folder, <lesson> being the notebook's name or its folder's.

Each test carries its cell's `points` and `score` as properties (`--junitxml` writes them) and fails
with the message the student sees under the cell, without a traceback; pytest exits 0 only when every
test passes. A notebook that could not be graded fails each of its tests with the reason.

    python -m ddpm_course.pytest_grading RESULTS.xml GRADE_ID   # did that test pass? (GitHub Classroom)
"""
from __future__ import annotations

import importlib
import logging
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

import ddpm_course
from ddpm_course import progress
from ddpm_course.cells import check_cells


@dataclass
class Graded:
    """One notebook, graded: grade_id -> (score, what the student sees under the cell) of each graded
    cell, or the reason it could not be graded."""
    cells: dict[str, tuple[float, str]] = field(default_factory=dict)
    reason: str = ""


def instructor(module: str):
    """A module of the instructor's tooling, imported only when hidden checks are asked for: like the
    hidden checks themselves (checking.run_hidden), it is absent from what students get."""
    try:
        return importlib.import_module(f"ddpm_course.instructor.{module}")
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("ddpm_course.instructor"):
            raise
        raise pytest.UsageError("--checks all grades with the hidden checks, which only the instructor's copy "
                                "of the course has; here, use --checks visible") from None


def cells_of_lesson(path: Path, config: pytest.Config) -> dict[str, float]:
    """--checks all: the graded cells of the notebook's lesson, deleted ones included (they score 0)."""
    try:
        lesson = instructor("grading.grade").lesson_of(path)
    except SystemExit as err:  # lesson_of speaks to the command line
        raise ValueError(str(err)) from None
    return instructor("course").points(lesson)


def released(path: Path, config: pytest.Config) -> nbformat.NotebookNode:
    """--checks visible: the released notebook of `path`'s lesson (see the module's docstring). Raises ValueError,
    naming where it looked, when there is none: without it, a check cell the student edited would grade itself."""
    given = config.getoption("release")
    roots = dict.fromkeys([Path(ddpm_course.__file__).resolve().parents[1], Path.cwd()])
    candidates = [given] if given else [root / "notebooks" / name / f"{name}.ipynb"
                                        for root in roots for name in dict.fromkeys([path.stem, path.parent.name])]
    found = next((candidate for candidate in candidates if candidate.is_file()), None)
    if found is None:
        raise ValueError("visible grading puts the released check cells back first, and found no released notebook "
                         f"(looked for {', '.join(map(str, candidates))}): name it with --release PATH")
    try:
        return nbformat.read(found, as_version=4)
    except Exception as err:
        raise ValueError(f"the released notebook {found} is not readable ({type(err).__name__})") from None


def cells_of_release(path: Path, config: pytest.Config) -> dict[str, float]:
    """--checks visible: the check cells of the released notebook, those the student deleted included (they score
    0), with the release's points."""
    return {c.grade_id: float(c.points) for c in check_cells(released(path, config))}


def grade_all(paths: list[Path], config: pytest.Config) -> list[Graded]:
    """Autograde every notebook in one batch through the course's grading; one Graded each, in order."""
    grade = instructor("grading.grade")
    records = grade.grade_apart([(grade.lesson_of(p), p) for p in paths], None,
                                config.getoption("cell_timeout"), config.getoption("memory_mb"))
    return [Graded({g.grade_id: (g.score or 0, g.output) for g in r.cells}) if r.status == "graded"
            else Graded(reason=f"not graded ({r.status}): {r.reason}") for r in records]


def grade_visible(paths: list[Path], config: pytest.Config) -> list[Graded]:
    """Run each notebook's visible checks in a fresh kernel; one Graded each, in order."""
    timeout = config.getoption("cell_timeout") or progress.TIMEOUT
    graded = []
    for path in paths:
        try:
            checks = progress.run_visible(path, timeout, released(path, config))
        except ValueError as err:  # the student's file is no notebook: its tests fail with the reason
            graded.append(Graded(reason=str(err)))
            continue
        graded.append(Graded({c.grade_id: (c.points if c.passed else 0, c.output) for c in checks}))
    return graded


MODES = {"all": (cells_of_lesson, grade_all), "visible": (cells_of_release, grade_visible)}
GRADED = pytest.StashKey[dict]()


def graded(item: pytest.Item) -> Graded:
    """The grading of the item's notebook. The first test to ask grades every notebook of the session
    that is not graded yet, in one batch: nbgrader's start-up is paid once, and workers share the cores."""
    done = item.config.stash.setdefault(GRADED, {})
    if item.path not in done:
        todo = list(dict.fromkeys(i.path for i in item.session.items if isinstance(i, GradedCell)
                                  and i.path not in done))
        # nbgrader logs every step; pytest would show those records under the first failure (`make grade` shows none)
        logging.disable(logging.CRITICAL)
        try:
            done.update(zip(todo, MODES[item.config.getoption("checks")][1](todo, item.config)))
        except Exception as err:  # the grading machinery failed: say so once per test, never grade again
            done.update({path: Graded(reason=f"grading failed: {type(err).__name__}: {err}") for path in todo})
        finally:
            logging.disable(logging.NOTSET)
    return done[item.path]


class CellFailed(Exception):
    """A graded cell lost points; the message is what the student sees under it."""


class Reported(pytest.Item):
    """A test whose failure shows the student's message alone: a traceback would only show the grader."""

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CellFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.nodeid  # the failure's heading: which notebook, which cell


class GradedCell(Reported):
    """A graded cell of a notebook: passes when it scored all its points."""

    def __init__(self, *, points: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.points = float(points)

    def runtest(self) -> None:
        result = graded(self)
        score, output = result.cells.get(self.name, (0, ""))
        self.user_properties += [("points", self.points), ("score", score)]
        if score < self.points:
            raise CellFailed(result.reason or output or f"scored {score:g} of {self.points:g}: the cell is "
                             "missing from the notebook, or lost its grading metadata")


class Ungradable(Reported):
    """A file that cannot be graded at all (not a notebook, or of no lesson): one failing test saying why,
    so the other notebooks of the session are still graded."""

    def __init__(self, *, reason: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def runtest(self) -> None:
        raise CellFailed(self.reason)


class NotebookFile(pytest.File):
    """A notebook: a test per graded cell. Collecting runs nothing; the first test grades (see graded)."""

    def collect(self):
        try:
            cells = MODES[self.config.getoption("checks")][0](self.path, self.config)
        except ValueError as err:
            yield Ungradable.from_parent(self, name="notebook", reason=str(err))
            return
        for grade_id, points in cells.items():
            yield GradedCell.from_parent(self, name=grade_id, points=points)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ddpm-course grading")
    group.addoption("--checks", choices=tuple(MODES), default="all",
                    help="all: visible and hidden checks, through the course's grading (default); "
                         "visible: the notebook's own checks only")
    group.addoption("--release", type=Path, help="--checks visible: the released notebook whose check cells go back "
                                                 "into each notebook before it runs (default: notebooks/<lesson>/"
                                                 "<lesson>.ipynb beside the package, or here)")
    group.addoption("--cell-timeout", type=int, help="seconds per cell (default: nbgrader_config.py's, 120)")
    group.addoption("--memory-mb", type=int, help="address space of each grading kernel in MiB, 0 for none "
                                                  "(--checks all; default: nbgrader_config.py's)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("checks") == "all":
        instructor("grading.grade")  # fail at once, with the way out, where there are no hidden checks


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".ipynb":
        return NotebookFile.from_parent(parent, path=file_path)
    return None


def passed(results: Path, grade_id: str) -> tuple[bool, str]:
    """Whether the test `grade_id` passed in a junit XML file that this plugin's run wrote, and what to say."""
    if not results.is_file():
        return False, f"{results} is missing: grading did not run"
    cases = [case for case in ElementTree.parse(results).iter("testcase") if case.get("name") == grade_id]
    if not cases:
        return False, f"{grade_id} was not graded (see the grading step's log)"
    problems = [child for child in cases[0] if child.tag in ("failure", "error", "skipped")]
    if problems:
        return False, problems[0].get("message") or problems[0].text or problems[0].tag
    points = {p.get("name"): p.get("value") for p in cases[0].iter("property")}
    return True, f"{grade_id}: passed ({float(points.get('score', 0)):g} points)"


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python -m ddpm_course.pytest_grading RESULTS.xml GRADE_ID")
    ok, message = passed(Path(sys.argv[1]), sys.argv[2])
    print(message)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
