"""The one entry to nbgrader: does a gradebook need nothing from PATH, and are nbgrader's warnings kept quiet?"""
import sqlite3
import warnings

from sqlalchemy.exc import SAWarning

from ddpm_course.instructor.grading.nbgrader_api import alembic_head, gradebook, gradebook_url, quiet_gradebook


def test_a_new_gradebook_is_stamped_in_process_without_alembic_on_path(tmp_path, monkeypatch):
    """With no `alembic` command anywhere on PATH, is a new gradebook created and stamped with the schema head?"""
    monkeypatch.setenv("PATH", "")
    with gradebook(tmp_path) as book:
        book.update_or_create_student("ann")
    assert gradebook_url(tmp_path) == f"sqlite:///{tmp_path / 'gradebook.db'}"
    with sqlite3.connect(tmp_path / "gradebook.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(alembic_head(),)]


def test_sqlalchemy_warnings_stay_inside_the_gradebook_calls():
    """Are SAWarnings silenced within quiet_gradebook(), and only there?"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_gradebook():
            warnings.warn("nbgrader's", SAWarning, stacklevel=1)
        warnings.warn("ours", SAWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["ours"]
