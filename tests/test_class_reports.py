"""Reports: from autograded notebooks and records, what does the instructor read?"""
import nbformat
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import class_reports
from ddpm_course.instructor.grading.records import CellGrade, Record

LESSONS = course.lessons()


def error(ename: str, evalue: str) -> dict:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])


def graded_cell(grade_id: str, *outputs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("checks.demo(fn)", outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id, "points": 1}
    return cell


@pytest.fixture
def autograded(tmp_path):
    """A small autograded notebook: a student cell that raised, a failed check, a timed-out check,
    a check that ran out of memory, and a passed one."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import nothing", outputs=[error("ModuleNotFoundError", "No module 'nothing'")]),
        graded_cell("demo_values", error("CheckFailure", "Demo: case [1]: wrong\n  Hint: look")),
        graded_cell("loop_values", error("KeyboardInterrupt", ""), error("CellTimeoutError", "cell timed out")),
        graded_cell("hog_values", error("MemoryError", "")),
        graded_cell("fine_values"),
    ]
    path = tmp_path / "autograded.ipynb"
    nbformat.write(notebook, path)
    return path


def test_failure_messages_give_each_failed_check_its_first_line_or_what_stopped_it(autograded):
    """Does each failed graded cell get the first line of its error, or the limit that stopped it?"""
    assert class_reports.failure_messages(autograded) == {
        "demo_values": "CheckFailure: Demo: case [1]: wrong",
        "loop_values": f"CellTimeoutError: {class_reports.CAUSES['CellTimeoutError']}",
        "hog_values": f"MemoryError: {class_reports.CAUSES['MemoryError']}",
    }


def test_failure_outputs_keep_the_whole_message_hint_included(autograded):
    """Does each failed graded cell keep its whole error, hint included, as the student sees it under the cell?"""
    outputs = class_reports.failure_outputs(autograded)
    assert outputs["demo_values"] == "CheckFailure: Demo: case [1]: wrong\n  Hint: look"
    firsts = {gid: class_reports.first_line(text, 10_000) for gid, text in outputs.items()}
    assert firsts == class_reports.failure_messages(autograded)


def test_what_went_wrong_names_limits_and_the_students_own_errors_not_failed_checks(autograded):
    """Does the reason list the student's own error and every limit hit, but leave failed checks to 'failed:'?"""
    assert class_reports.what_went_wrong(autograded) == [
        "cell 1 raised ModuleNotFoundError: No module 'nothing'",
        f"loop_values: {class_reports.CAUSES['CellTimeoutError']}",
        f"hog_values: {class_reports.CAUSES['MemoryError']}",
    ]


def test_a_tampered_notebook_says_so_first_and_once(tmp_path):
    """Does the reason put the integrity guard's finding first, once, however many cells repeat it?"""
    said = "this graded cell scores 0: the notebook changed what grading relies on (torch.allclose was replaced)"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import nothing", outputs=[error("ModuleNotFoundError", "no")]),
                      graded_cell("a_values", error(class_reports.INTEGRITY, said)),
                      graded_cell("b_values", error(class_reports.INTEGRITY, said))]
    nbformat.write(notebook, tmp_path / "tampered.ipynb")
    assert class_reports.what_went_wrong(tmp_path / "tampered.ipynb") == [
        f"{class_reports.INTEGRITY} from a_values: {said}", "cell 1 raised ModuleNotFoundError: no"]


def test_reason_joins_errors_failed_checks_and_notes():
    """Is the reason one line: what stopped the code, then the failed checks, then triage's notes?"""
    cells = [CellGrade("a_values", 0, 3, "x"), CellGrade("b_values", 2, 2)]
    assert class_reports.reason(cells, ["a note"], ["cell 1 raised X"]) == "cell 1 raised X; failed: a_values; a note"


def test_exercise_rates_put_the_hardest_exercise_first():
    """Is each graded cell's pass rate counted over the class, lowest first?"""
    records = [Record(student, LESSONS[0], "graded", 0, 2, cells=[CellGrade("easy_values", 1, 1),
                                                                   CellGrade("hard_values", score, 1)])
               for student, score in (("ann", 0), ("bob", 0), ("cy", 1))]
    rows = class_reports.exercise_rates(records)
    assert [(r["grade_id"], r["passed"], r["graded"]) for r in rows] == [("hard_values", 1, 3), ("easy_values", 3, 3)]


def test_grades_csv_is_sorted_by_student_then_course_order(tmp_path):
    """Are rows ordered by student, then by the declared lesson order, not alphabetically?"""
    records = [Record("bob", lesson, "missing", 0, 1) for lesson in reversed(LESSONS)]
    records.append(Record("ann", LESSONS[-1], "graded", 1, 1))
    lines = class_reports.write_grades(tmp_path, records).read_text().strip().split("\n")
    expected = [["ann", LESSONS[-1]]] + [["bob", lesson] for lesson in LESSONS]
    assert [line.split(",")[:2] for line in lines[1:]] == expected


def test_a_submission_without_a_score_gets_a_page_saying_why(tmp_path):
    """Does a missing or invalid submission get a feedback page with its reason, HTML-escaped?"""
    path = class_reports.write_notice(tmp_path, Record("ann", LESSONS[0], "invalid", 0, 10, "x.ipynb is <not> JSON"))
    assert "could not be graded (invalid)" in path.read_text() and "&lt;not&gt;" in path.read_text()
