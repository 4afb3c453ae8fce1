"""The grader folder (Gradescope's course/, GitHub Classroom's private grader): does it hold what grading needs,
no answer notebook, and a grading source from which nbgrader records exactly what the solutions give it?"""
from __future__ import annotations

import nbformat
import pytest
from nbgrader.preprocessors import ClearSolutions

from ddpm_course.instructor import course, grader
from ddpm_course.instructor.nbgrader_api import course_config

LESSONS = course.lessons()


def cleared(notebook) -> list[dict]:
    """What nbgrader's generate_assignment records of each cell (its SaveCells runs after ClearSolutions):
    source and metadata, with the course's stub in place of each solution region."""
    notebook, _ = ClearSolutions(config=course_config()).preprocess(nbformat.from_dict(notebook), {})
    return [{"source": c.source, "metadata": c.metadata, "cell_type": c.cell_type} for c in notebook.cells]


@pytest.mark.parametrize("lesson", LESSONS)
def test_nbgrader_records_the_same_cells_from_the_grading_source_as_from_the_solutions(lesson):
    """Does the grading source give nbgrader the very cells the solution notebook gives it, hidden tests included?"""
    source = grader.grading_source(lesson)
    assert cleared(source) == cleared(course.read(course.solution_path(lesson)))
    checks = [c.source for c in source.cells if course.is_graded_test(c)]
    assert checks and all(course.HIDDEN_DELIMITERS[0] in text for text in checks)


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_grading_source_holds_no_answer(lesson):
    """Is every line found only inside the solution regions absent from the grading source?"""
    text = nbformat.writes(grader.grading_source(lesson))
    assert sorted(line for line in course.solution_only_lines(lesson) if line in text) == []


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_grader_holds_the_hidden_checks_but_no_bug_bank_and_no_later_lesson(lesson):
    """Does the grader carry the instructor tooling and the hidden checks and references up to the lesson, but
    no bugs.py (its edits quote the answers), no later lesson and no solution notebook but the grading source?"""
    names = set(grader.contents(lesson))
    upto, later = LESSONS[:LESSONS.index(lesson) + 1], LESSONS[LESSONS.index(lesson) + 1:]
    assert {f"ddpm_course/{name}/{module}" for name in upto for module in ("hidden.py", "reference.py")} <= names
    assert {"ddpm_course/instructor/grade.py", "nbgrader_config.py", "requirements.txt"} <= names
    assert [n for n in names if n.endswith("bugs.py") or any(f"/{name}/" in n for name in later)] == []
    assert sorted(n for n in names if n.endswith(".ipynb")) == [f"notebooks/{lesson}/{lesson}.ipynb",
                                                          f"solutions/{lesson}/{lesson}.ipynb"]
