"""The README's generated blocks: are they what `make release` writes now, a row per lesson, and does a lesson
without its `You build:` line say what it lacks?"""
import types

import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.authoring import readme


def test_the_readme_blocks_are_current_and_no_placeholder_url_is_left():
    """Are the README's lesson table and Colab links what `make release` writes, with no placeholder URL left
    anywhere?"""
    text = readme.README.read_text()
    assert all(block in text for block in readme.blocks().values())
    for shown in [text, *(course.release_path(lesson).read_text() for lesson in course.lessons())]:
        assert "repository's URL" not in shown and "<this repo" not in shown


def test_the_lesson_table_has_a_row_per_lesson_in_course_order():
    """Does the lesson table give every lesson, numbered in course order, its notebook folder and what it builds?"""
    rows = readme.lesson_table().split("\n")[2:]
    assert [row.split(" | ")[:2] for row in rows] == [[f"| {n}", f"`notebooks/{lesson}/`"]
                                                      for n, lesson in enumerate(course.lessons(), start=1)]
    assert rows[0].endswith(f"| {readme.builds(course.lessons()[0])} |")


def test_a_lesson_whose_docstring_lacks_what_it_builds_says_so(monkeypatch):
    """Does a lesson package without a `You build:` line fail the table with the file to fix?"""
    monkeypatch.setattr(readme.importlib, "import_module", lambda name: types.ModuleType(name, "Lesson 9."))
    with pytest.raises(ValueError, match="__init__.py: its docstring needs a line 'You build: ...'"):
        readme.builds("l9_new")
