"""What each cell of a course notebook is, which exercise a check grades, and the error a cell ended in.

nbgrader marks an answer cell `solution` and a check cell `grade` (and not `solution`); the maintainers tag
the cells that make the reference code `export`. A check grades the exercise of the answer cell above it.
The students' tools (progress.py) and the instructor's (course.py and what reads it) share these readings,
and the visible grading puts the released check cells back before it runs a notebook (restore_checks).
"""
from __future__ import annotations

import copy
from typing import NamedTuple


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_export(cell) -> bool:
    return cell.cell_type == "code" and "export" in cell.metadata.get("tags", [])


def is_graded_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_answer(cell) -> bool:
    """An nbgrader answer (solution) cell: the student's part."""
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


class CheckCell(NamedTuple):
    """A check cell of a notebook: where it is, its grade_id and points, and the exercise it grades (the
    grade_id of the answer cell above it; "" for a check above every answer cell)."""
    index: int
    grade_id: str
    points: float
    exercise: str


def check_cells(notebook) -> list[CheckCell]:
    """Every check cell of the notebook, in order; `points` as nbgrader records them."""
    found, exercise = [], ""
    for index, cell in enumerate(notebook.cells):
        if is_answer(cell):
            exercise = grade_id(cell) or ""
        elif is_graded_test(cell):
            meta = cell.metadata["nbgrader"]
            found.append(CheckCell(index, meta["grade_id"], meta.get("points", 0), exercise))
    return found


def restore_checks(notebook, release) -> None:
    """Put the check cells of the released notebook `release` back into `notebook`, in place, as nbgrader restores
    locked cells: each cell that carries the grade_id of a check of the release becomes that check cell again,
    code, type and metadata (a check replaced by `pass` runs the real check; copies of it all do). A check the
    notebook lacks stays missing, and scores 0."""
    checks = {c.metadata["nbgrader"]["grade_id"]: c for c in release.cells if is_graded_test(c)}
    for index, cell in enumerate(notebook.cells):
        original = checks.get(grade_id(cell))
        if original is not None:
            restored = copy.deepcopy(original)
            restored.outputs, restored.execution_count = [], None
            if "id" in cell:
                restored.id = cell.id
            notebook.cells[index] = restored


def errors(cell) -> list:
    """The error outputs of a cell, in order."""
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def error_message(output, evalue: str | None = None) -> str:
    """An error output as the student reads it: `Name: message` (`evalue` in place of its own message)."""
    return f"{output.get('ename')}: {output.get('evalue') if evalue is None else evalue}".strip()
