"""Reading an autograded notebook: does each graded cell get the failure the student saw, and the record the
reason that says what stopped the student's code?"""
import nbformat
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import autograded
from ddpm_course.instructor.grading.records import CellGrade
from ddpm_course.instructor.grading.triage import Task

LESSONS = course.lessons()


def error(ename: str, evalue: str) -> dict:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])


def graded_cell(grade_id: str, *outputs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("checks.demo(fn)", outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id, "points": 1}
    return cell


@pytest.fixture
def notebook():
    """A small autograded notebook: a student cell that raised, a failed check, a timed-out check,
    a check that ran out of memory, and a passed one."""
    made = nbformat.v4.new_notebook()
    made.cells = [
        nbformat.v4.new_code_cell("import nothing", outputs=[error("ModuleNotFoundError", "No module 'nothing'")]),
        graded_cell("demo_values", error("CheckFailure", "Demo: case [1]: wrong\n  Hint: look")),
        graded_cell("loop_values", error("KeyboardInterrupt", ""), error("CellTimeoutError", "cell timed out")),
        graded_cell("hog_values", error("MemoryError", "")),
        graded_cell("fine_values"),
    ]
    return made


def test_failure_outputs_keep_the_whole_message_or_what_stopped_the_cell(notebook):
    """Does each failed graded cell keep its whole error, hint included, as the student sees it under the cell,
    or the limit that stopped it?"""
    assert autograded.failure_outputs(notebook) == {
        "demo_values": "CheckFailure: Demo: case [1]: wrong\n  Hint: look",
        "loop_values": f"CellTimeoutError: {autograded.CAUSES['CellTimeoutError']}",
        "hog_values": f"MemoryError: {autograded.CAUSES['MemoryError']}",
    }


def test_what_went_wrong_names_limits_and_the_students_own_errors_not_failed_checks(notebook):
    """Does the reason list the student's own error and every limit hit, but leave failed checks to 'failed:'?"""
    assert autograded.what_went_wrong(notebook) == [
        "cell 1 raised ModuleNotFoundError: No module 'nothing'",
        f"loop_values: {autograded.CAUSES['CellTimeoutError']}",
        f"hog_values: {autograded.CAUSES['MemoryError']}",
    ]


def test_a_cell_whose_checks_could_not_reach_the_notebook_says_why():
    """Does the reason say that a graded cell's checks never reached the notebook (the agent did not answer), as
    it says what a limit stopped?"""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [graded_cell("a_values", error("GradingError", "this cell's checks could not reach the code"))]
    assert autograded.what_went_wrong(notebook) == [f"a_values: {autograded.CAUSES['GradingError']}"]


def test_reason_joins_errors_failed_checks_and_notes():
    """Is the reason one line: what stopped the code, then the failed checks, then triage's notes?"""
    cells = [CellGrade("a_values", 0, 3, "x"), CellGrade("b_values", 2, 2)]
    assert autograded.reason(cells, ["a note"], ["cell 1 raised X"]) == "cell 1 raised X; failed: a_values; a note"


def test_a_graded_record_takes_the_gradebooks_scores_in_the_lessons_order_with_each_failure():
    """Does the record list the lesson's graded cells in notebook order, with the gradebook's scores, the first
    line of each failure for tables and the whole of it for the student, and add them up?"""
    lesson = LESSONS[0]
    first, second = list(course.points(lesson))[:2]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [graded_cell(first, error("CheckFailure", "wrong\n  Hint: look")), graded_cell(second)]
    scores = [CellGrade(second, 2, 2), CellGrade(first, 0, 3)]
    record = autograded.graded_record(Task("ann", lesson, notebook=None, notes=["a note"]), scores, notebook, 1.5)
    assert [(g.grade_id, g.score, g.message, g.output) for g in record.cells] == [
        (first, 0, "CheckFailure: wrong", "CheckFailure: wrong\n  Hint: look"), (second, 2, "", "")]
    assert (record.score, record.max_score, record.reason, record.seconds) == (2, 5, f"failed: {first}; a note", 1.5)


def test_a_notebook_nbgrader_gave_up_on_gets_an_error_record_saying_what_it_means():
    """Does a grading error score 0 of the lesson's points, with the error, what it means and triage's notes?"""
    lesson = LESSONS[0]
    record = autograded.error_record(Task("ann", lesson, notebook=None, notes=["a note"]), "DeadKernelError: died", 2)
    assert (record.status, record.score, record.max_score) == ("error", 0, sum(course.points(lesson).values()))
    assert record.reason == (f"could not be graded: DeadKernelError: died; {autograded.CAUSES['DeadKernelError']}; "
                             "a note")
