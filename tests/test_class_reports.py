"""Class reports: from the records of a class, what does the instructor read?"""
from ddpm_course.instructor import course
from ddpm_course.instructor.grading import class_reports
from ddpm_course.instructor.grading.records import CellGrade, Record

LESSONS = course.lessons()


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
