"""Grading integrity, the parent's side: arm the guard in each grading kernel, run every graded
cell through it, and score a cell only on a valid, signed "pass" verdict.

`GuardedExecute` is the Execute preprocessor of `nbgrader_config.py`, so `make grade`,
`make autograde`, a plain `nbgrader autograde` and every route built on them share it. The guard
itself, and what it watches, is in `guard.py`; why and what it cannot stop, in README, "Security".
"""
from __future__ import annotations

import hmac

from nbformat import NotebookNode, v4
from traitlets import Bool

from ddpm_course.cells import error_message, errors, is_graded_test
from ddpm_course.instructor.grading.guard import MIME, GradingIntegrityError, sign
from ddpm_course.instructor.grading.limits import LimitedExecute, error_output

ERROR = GradingIntegrityError.__name__


def arming_source(lesson: str | None) -> str:
    return f'__import__("ddpm_course.instructor.grading.guard", fromlist=["arm"]).arm({lesson!r})'


def graded_source(grade_id: str, source: str) -> str:
    return f'__import__("ddpm_course.instructor.grading.guard", fromlist=["graded"]).graded({grade_id!r}, {source!r})'


def verdicts(cell: NotebookNode) -> list[dict]:
    """The guard's messages among a cell's outputs."""
    return [o["data"][MIME] for o in cell.get("outputs", []) if MIME in o.get("data", {})]


def judge(found: list[dict], key: bytes | None, grade_id: str, source: str) -> tuple[bool, str]:
    """Whether the guard's verdicts on a graded cell make one valid "pass"; if not, why the cell scores 0."""
    if key is None:
        return False, "the integrity guard could not start"
    if not found:
        return False, "no verdict came back: the notebook suppressed the cell's output"
    valid = [v for v in found
             if hmac.compare_digest(str(v.get("mac")), sign(key, grade_id, source, str(v.get("verdict"))))]
    if len(valid) != len(found) or len(found) != 1:
        return False, "a verdict was forged"
    if valid[0]["verdict"] != "pass":
        return False, "its checks failed, and the notebook suppressed their error"
    return True, ""


def settle(cell: NotebookNode, key: bytes | None, source: str) -> NotebookNode:
    """Take the verdict out of a graded cell's outputs; unless it is one valid "pass", make sure
    the cell ends in an error, so that nbgrader scores it 0."""
    found = verdicts(cell)
    cell.outputs = [o for o in cell.outputs if MIME not in o.get("data", {})]
    passed, why = judge(found, key, cell.metadata["nbgrader"]["grade_id"], source)
    if not passed and not errors(cell):
        cell.outputs.append(error_output(ERROR, f"this graded cell scores 0: {why}"))
    return cell


class GuardedExecute(LimitedExecute):
    """LimitedExecute that arms the integrity guard before the notebook's first cell and runs each
    graded cell's checks through it."""

    # not `enabled`: every nbconvert preprocessor has that trait, and False skips it altogether
    guard = Bool(True, help="arm the integrity guard (off only to measure what it costs: "
                              "`make bench-grading GUARD=both`)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._key: bytes | None = None
        self._lesson = ((resources or {}).get("nbgrader") or {}).get("notebook")
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not self.guard:
            return super().preprocess_cell(cell, resources, index)
        if self._key is None and self._died_in is None:
            self._arm(index)
        if not is_graded_test(cell) or self._died_in is not None:
            return super().preprocess_cell(cell, resources, index)
        source = cell.source
        cell.source = graded_source(cell.metadata["nbgrader"]["grade_id"], source)
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = source
        return settle(cell, self._key, source), resources

    def _arm(self, index: int) -> None:
        """Run the arming code in a cell of its own, outside the notebook and its history; keep the key."""
        private = v4.new_code_cell(arming_source(self._lesson))
        kept = self.nb.cells[index]
        try:
            self.execute_cell(private, index, store_history=False)
        finally:
            self.nb.cells[index] = kept
        found = verdicts(private)
        if len(found) != 1 or "key" not in found[0]:
            raised = [error_message(o) for o in errors(private)]
            raise RuntimeError(f"the grading integrity guard did not start: {raised or private.outputs}")
        self._key = bytes.fromhex(found[0]["key"])
