"""Submissions for the grading tests, written the way students hand them in: the solution, a known
bug, or bad code, in submitted/<student>/<lesson>/."""
from __future__ import annotations

from pathlib import Path

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.authoring import colab
from ddpm_course.instructor.qa import bank
from ddpm_course.mutations import Mutation

FIRST = course.lessons()[0]
# A GroupNorm that is wrong only on a single row of pixels, which no visible case has: a hidden case catches it.
HIDDEN_ONLY = Mutation("wrong on a single row of pixels", "groupnorm_impl",
                       ("        B, C, H, W = x.shape\n", "        B, C, H, W = x.shape\n        if H == 1:\n"
                                                          "            return x\n"))
# The first known bug of the lesson's last check, which its visible check catches.
VISIBLE_BUG = next(bug for bug in bank.bank(FIRST).BUGS if bug.fails == list(course.points(FIRST))[-1])
# What the routes that grade elsewhere are tried on (pytest grading, Gradescope): one notebook of each kind.
KINDS = ("correct", "buggy", "stub", "invalid")

def submit(root: Path, student: str, lesson: str, notebook, name: str | None = None) -> Path:
    """Write a notebook (or raw text) where a student's submission goes; return its path."""
    path = root / "submitted" / student / lesson / (name or f"{lesson}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    return path


def first_code_cell(notebook) -> int:
    """The lesson's imports: its first code cell after the Colab setup cell that `make release` adds."""
    setup_cells = {colab.setup_cell_source(lesson) for lesson in course.lessons()}
    return next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source not in setup_cells)


def with_new_cell(notebook, code: str):
    """The notebook with a cell of `code` right after its imports."""
    notebook.cells.insert(first_code_cell(notebook) + 1, nbformat.v4.new_code_cell(code))
    return notebook


def shadow_package(folder: Path) -> None:
    """A fake ddpm_course whose checks and hidden checks pass anything, plus a checks.py."""
    package = folder / "ddpm_course" / FIRST
    package.mkdir(parents=True)
    (folder / "ddpm_course" / "__init__.py").write_text("")
    (folder / "ddpm_course" / "checking.py").write_text("def run_hidden(*args, **kwargs):\n    pass\n")
    (package / "__init__.py").write_text("")
    (package / "checks.py").write_text("def __getattr__(name):\n    return lambda *args, **kwargs: None\n")
    (folder / "checks.py").write_text("def __getattr__(name):\n    return lambda *args, **kwargs: None\n")


def buggy_notebook():
    """Lesson 1's solution with two bugs in two exercises: VISIBLE_BUG, and HIDDEN_ONLY, which only the
    hidden checks can see."""
    notebook = bank.submission(FIRST, VISIBLE_BUG)
    cell = next(c for c in notebook.cells if course.grade_id(c) == HIDDEN_ONLY.cell)
    cell.source = HIDDEN_ONLY.apply(cell.source)
    return notebook


def first_lesson_kinds(folder: Path, kinds=KINDS) -> dict[str, Path]:
    """A lesson-1 notebook of each kind, as <folder>/<kind>/<lesson>.ipynb: the solution, buggy_notebook(), the
    untouched release, and a file that is no notebook."""
    notebooks = {"correct": bank.submission(FIRST), "buggy": buggy_notebook(),
                 "stub": course.read(course.release_path(FIRST)),
                 "invalid": nbformat.writes(bank.submission(FIRST))[:500]}
    paths = {}
    for kind in kinds:
        paths[kind] = folder / kind / f"{FIRST}.ipynb"
        paths[kind].parent.mkdir(parents=True)
        if isinstance(notebooks[kind], str):
            paths[kind].write_text(notebooks[kind])
        else:
            nbformat.write(notebooks[kind], paths[kind])
    return paths
