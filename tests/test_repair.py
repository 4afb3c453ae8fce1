"""Mending copied cells (grading/repair.py): does a notebook with a pasted graded cell keep one graded copy, the
last, and get unique cell ids, so that nbgrader grades it instead of refusing it whole (nbgrader#1083)?"""
from __future__ import annotations

import copy

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.repair import repair
from ddpm_course.instructor.qa import bank

LESSON = course.lessons()[0]


def test_a_pasted_check_cell_leaves_one_graded_copy_the_last():
    """Does every copy of a grade_id but the last lose its nbgrader metadata (and run as an ordinary cell), with a
    note that says so?"""
    notebook = bank.submission(LESSON)
    index = next(i for i, c in enumerate(notebook.cells) if course.is_graded_test(c))
    pasted = copy.deepcopy(notebook.cells[index])
    notebook.cells.insert(index + 2, pasted)
    notes = repair(notebook)
    graded = [c for c in notebook.cells if course.grade_id(c) == course.grade_id(pasted)]
    assert graded == [pasted] and "nbgrader" not in notebook.cells[index].metadata
    assert notes and course.grade_id(pasted) in notes[0] and "the last is graded" in notes[0]


def test_duplicated_cell_ids_are_renamed_and_the_notebook_validates():
    """Are duplicated cell ids given new ones, so that nbformat validates the notebook?"""
    notebook = bank.submission(LESSON)
    notebook.cells.append(copy.deepcopy(notebook.cells[-1]))
    notes = repair(notebook)
    ids = [c.id for c in notebook.cells]
    assert len(ids) == len(set(ids)) and any("cell id" in note for note in notes)
    nbformat.validate(notebook)


def test_a_notebook_without_copies_is_left_as_it_is():
    """Is a submission without copies left unchanged, with no note?"""
    notebook = bank.submission(LESSON)
    before = nbformat.writes(notebook)
    assert repair(notebook) == [] and nbformat.writes(notebook) == before
