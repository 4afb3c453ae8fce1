"""What autograding records: a CellGrade per graded cell, gathered into a Record per student and lesson.

Workers fill the cells from their gradebooks, the main process merges them into the instructor's,
and class_reports.py writes them out (grades.csv, reports/).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CellGrade:
    """One graded cell of one submission. `score` is None where nbgrader could not grade the cell
    (its check cell was deleted): a human must."""
    grade_id: str
    score: float | None
    max_score: float
    message: str = ""  # the first line of the failure, for tables (grades.csv, reports, `make grade`)
    output: str = ""  # the whole failure as the student sees it under the cell, hint included (pytest, Gradescope)


@dataclass
class Record:
    """The outcome for one student and lesson, as grades.csv shows it."""
    student: str
    lesson: str
    status: str  # graded | missing | invalid | error
    score: float
    max_score: float
    reason: str = ""
    cells: list[CellGrade] = field(default_factory=list)
    seconds: float = 0.0  # time a worker spent on it
