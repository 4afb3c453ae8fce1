"""Triage: does every student x lesson get one outcome, a notebook to grade with notes or a record
saying why not, before any kernel starts?"""
import nbformat
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.records import Record
from ddpm_course.instructor.grading.triage import Task, triage, triage_one
from ddpm_course.instructor.qa import bank
from submissions import FIRST, submit, with_new_cell


def test_a_student_without_the_lesson_folder_is_missing_and_we_say_what_they_sent(tmp_path):
    """Is a student whose folder holds only a misnamed lesson folder 'missing', naming what was found?"""
    (tmp_path / "submitted" / "ann" / "lesson1").mkdir(parents=True)
    outcome = triage_one(tmp_path, "ann", FIRST)
    assert isinstance(outcome, Record) and outcome.status == "missing" and outcome.score == 0
    assert "found: lesson1" in outcome.reason


@pytest.mark.parametrize(("files", "status", "says"), [
    ({}, "missing", "an empty folder"),
    ({"a.ipynb": "{}", "b.ipynb": "{}"}, "missing", "a.ipynb, b.ipynb"),
    ({f"{FIRST}.ipynb": "not json"}, "invalid", "not a readable notebook"),
])
def test_a_folder_without_one_readable_notebook_gets_a_record(tmp_path, files, status, says):
    """Does an empty folder, an ambiguous one, or an unreadable notebook get its status and reason?"""
    folder = tmp_path / "submitted" / "ann" / FIRST
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    outcome = triage_one(tmp_path, "ann", FIRST)
    assert isinstance(outcome, Record) and (outcome.status, outcome.score) == (status, 0)
    assert says in outcome.reason
    assert outcome.max_score == sum(course.points(FIRST).values())


def test_a_lone_misnamed_notebook_is_graded_with_a_note(tmp_path):
    """Is a single notebook under another name graded as the lesson's, and does a note say so?"""
    path = submit(tmp_path, "ann", FIRST, bank.submission(FIRST), name=f"{FIRST} (1).ipynb")
    outcome = triage_one(tmp_path, "ann", FIRST)
    assert isinstance(outcome, Task) and outcome.notebook == path
    assert outcome.notes == [f"submitted as '{FIRST} (1).ipynb', graded as {FIRST}.ipynb"]


def test_deleted_check_cells_and_extra_files_are_noted(tmp_path):
    """Does a note name the graded cells a student deleted, and the extra files never copied?"""
    notebook = bank.submission(FIRST)
    deleted = list(course.points(FIRST))[0]
    notebook.cells = [c for c in notebook.cells if course.grade_id(c) != deleted]
    path = submit(tmp_path, "ann", FIRST, notebook)
    (path.parent / "checks.py").write_text("")
    (path.parent / "timestamp.txt").write_text("2026-01-01 00:00:00")
    outcome = triage_one(tmp_path, "ann", FIRST)
    assert outcome.notes == [f"graded cells deleted or retagged: {deleted}",
                             "extra files not used for grading: checks.py"]


@pytest.mark.parametrize("code", ["import ddpm_course.checking\nddpm_course.checking.run_hidden = lambda *args: None",
                                  "import sys\nsys.modules['ddpm_course.instructor.grading.guard']._guard.busy = True",
                                  "import sys\nframe = sys._getframe(1).f_back"], ids=["checks", "guard", "frames"])
def test_code_that_reaches_into_the_grader_is_flagged_for_review(tmp_path, code):
    """Is a notebook that patches the checks, reaches for the integrity guard or walks stack frames flagged,
    and the solution not?"""
    submit(tmp_path, "cheat", FIRST, with_new_cell(bank.submission(FIRST), code))
    submit(tmp_path, "honest", FIRST, bank.submission(FIRST))
    assert "review by hand" in " ".join(triage_one(tmp_path, "cheat", FIRST).notes)
    assert triage_one(tmp_path, "honest", FIRST).notes == []


def test_triage_covers_every_student_and_submitted_lesson_in_course_order(tmp_path):
    """Does triage give each student an outcome for every lesson anybody submitted, in course order?"""
    lessons = course.lessons()
    submit(tmp_path, "ann", lessons[1], nbformat.v4.new_notebook())
    submit(tmp_path, "bob", lessons[0], nbformat.v4.new_notebook())
    tasks, records = triage(tmp_path)
    assert sorted((t.student, t.lesson) for t in tasks) == [("ann", lessons[1]), ("bob", lessons[0])]
    assert sorted((r.student, r.lesson, r.status) for r in records) == [
        ("ann", lessons[0], "missing"), ("bob", lessons[1], "missing")]


@pytest.mark.parametrize("layout", ["no folder", "no notebook"])
def test_a_missing_record_shows_no_path_of_the_graders(tmp_path, layout):
    """Does a 'missing' record, which the student reads in their feedback, name what was handed in but no folder
    of the grading machine?"""
    folder = tmp_path / "submitted" / "ann" / (FIRST if layout == "no notebook" else "elsewhere")
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("hi")
    outcome = triage_one(tmp_path, "ann", FIRST)
    assert outcome.status == "missing" and str(tmp_path) not in outcome.reason and "submitted/" not in outcome.reason
