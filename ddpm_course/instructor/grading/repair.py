"""Mend what honest students do to a notebook's metadata that would make nbgrader refuse it whole.

A cell copied and pasted in Jupyter keeps its nbgrader metadata, so its grade_id appears twice, and
nbgrader gives up on the notebook with a misleading "old version of the metadata" error
(jupyter/nbgrader#1083); JupyterLab also copies the cell's own id, which nbformat 4.5 wants unique.
As nbgrader's author proposed there (#108), every copy but the last keeps its code and loses its nbgrader
metadata: it runs as an ordinary cell, and the last copy is graded (or holds the answer).
"""
from __future__ import annotations

import uuid

from nbformat import NotebookNode

from ddpm_course.instructor import course


def repair(notebook: NotebookNode) -> list[str]:
    """Mend `notebook` in place; return a note per change, for the grading record."""
    notes = []
    last = {}
    for index, cell in enumerate(notebook.cells):
        gid = course.grade_id(cell)
        if gid is not None:
            last[gid] = index
    copies: dict[str, int] = {}
    for index, cell in enumerate(notebook.cells):
        gid = course.grade_id(cell)
        if gid is not None and last[gid] != index:
            del cell.metadata["nbgrader"]
            copies[gid] = copies.get(gid, 1) + 1
    for gid, count in copies.items():
        notes.append(f"{count} cells carry {gid} (copied and pasted?): the last is graded, the others ran as "
                     f"ordinary cells")
    seen: set[str] = set()
    renamed = 0
    for cell in notebook.cells:
        if "id" in cell:
            if cell.id in seen:
                cell.id = uuid.uuid4().hex[:12]
                renamed += 1
            seen.add(cell.id)
    if renamed:
        notes.append(f"{renamed} duplicated cell id{'s' * (renamed != 1)} renamed")
    return notes
