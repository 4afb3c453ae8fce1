"""Reading a course notebook's cells: is each cell told apart by its nbgrader metadata, each check given the
exercise it grades, and each error said as the student reads it?"""
import nbformat
import pytest

from ddpm_course import cells


def made(kind: str, grade_id: str | None = None, points: float = 0, outputs=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("pass", outputs=list(outputs)) if kind != "markdown" else \
        nbformat.v4.new_markdown_cell("text")
    if kind in ("answer", "check"):
        cell.metadata["nbgrader"] = {"grade": kind == "check", "solution": kind == "answer", "grade_id": grade_id,
                                     "points": points}
    return cell


@pytest.mark.parametrize(("kind", "graded", "answer"), [("check", True, False), ("answer", False, True),
                                                        ("code", False, False), ("markdown", False, False)])
def test_cells_are_told_apart_by_their_nbgrader_metadata(kind, graded, answer):
    """Is a check cell graded, an answer cell an answer, and a plain cell neither?"""
    cell = made(kind, "demo_values")
    assert (cells.is_graded_test(cell), cells.is_answer(cell)) == (graded, answer)
    assert cells.grade_id(cell) == ("demo_values" if kind in ("answer", "check") else None)


def test_each_check_grades_the_exercise_of_the_answer_cell_above_it():
    """Does every check cell come with its place, points and the answer cell above it ("" above every answer)?"""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [made("check", "setup_values", 1), made("answer", "a_impl"), made("markdown"),
                      made("check", "a_values", 3), made("check", "a_shapes", 2), made("answer", "b_impl"),
                      made("code"), made("check", "b_values", 2)]
    assert cells.check_cells(notebook) == [(0, "setup_values", 1, ""), (3, "a_values", 3, "a_impl"),
                                           (4, "a_shapes", 2, "a_impl"), (7, "b_values", 2, "b_impl")]


def test_an_error_reads_as_name_and_message():
    """Is an error output said as `Name: message`, with a message of the caller's choosing where given?"""
    output = nbformat.v4.new_output("error", ename="CheckFailure", evalue="Demo: wrong\n  Hint: look", traceback=[])
    cell = made("check", "a_values", outputs=[nbformat.v4.new_output("stream", text="x"), output])
    assert cells.errors(cell) == [output]
    assert cells.error_message(output) == "CheckFailure: Demo: wrong\n  Hint: look"
    assert cells.error_message(output, "ran past the time limit") == "CheckFailure: ran past the time limit"


def test_the_released_check_cells_go_back_by_grade_id_as_nbgrader_restores_locked_cells():
    """Does each cell that carries a released check's grade_id become that check again (code, type, metadata,
    no output), copies included, while a deleted check stays missing and every other cell is left alone?"""
    release = nbformat.v4.new_notebook()
    release.cells = [made("answer", "a_impl"), made("check", "a_values", 3), made("check", "b_values", 2)]
    for cell, code in zip(release.cells, ("def a(): ...", "check_a(a)", "check_b(b)")):
        cell.source = code
    notebook = nbformat.v4.new_notebook()
    emptied = made("check", "a_values", 30, outputs=[nbformat.v4.new_output("stream", text="passed")])
    as_text = made("markdown")
    as_text.metadata["nbgrader"] = {"grade": False, "solution": False, "grade_id": "a_values", "points": 0}
    answer = made("answer", "a_impl")
    answer.source = "def a(): return 1"
    notebook.cells = [answer, emptied, made("code"), as_text]  # b_values deleted
    cells.restore_checks(notebook, release)
    assert [(c.cell_type, c.source) for c in notebook.cells] == [
        ("code", "def a(): return 1"), ("code", "check_a(a)"), ("code", "pass"), ("code", "check_a(a)")]
    assert [(c.grade_id, c.points) for c in cells.check_cells(notebook)] == [("a_values", 3), ("a_values", 3)]
    assert notebook.cells[1].outputs == [] and notebook.cells[1].id == emptied.id
