"""Known bugs and valid alternatives of an exercise, written as textual edits of its solution cell.

Each lesson's `bugs.py` lists them; the bank (`ddpm_course.instructor.qa.bank`) applies each edit
to the solution notebook and grades the result. They live beside the check framework, not in
the instructor tooling, so lessons never import instructor code.
"""
from __future__ import annotations


class Mutation:
    """Edits (old -> new) applied to the source of the solution cell `cell`."""

    def __init__(self, name: str, cell: str, *edits: tuple[str, str]) -> None:
        self.name, self.cell, self.edits = name, cell, edits

    def apply(self, source: str) -> str:
        for old, new in self.edits:
            if source.count(old) != 1:
                raise ValueError(f"'{self.name}' no longer applies: {old!r} occurs {source.count(old)} times "
                                 f"in cell {self.cell}; update the bank to match the solution")
            source = source.replace(old, new)
        return source

    def __repr__(self) -> str:
        return f"{self.cell}: {self.name}"


class Bug(Mutation):
    """A wrong implementation: the check `fails`, and no other, must lose its points, saying `says`.

    The visible check must catch it, so a visible pass predicts the grade, unless `hidden_only` gives
    the reason it cannot; then the hidden failure must say that it is a hidden case.
    The cheat bank pastes the reference's outputs for the visible inputs of a lesson's first bug's check,
    which its hidden cases, on inputs of their own, then fail; `replay_fails_visibly` says why the visible
    check fails such a replay itself (it checks more than outputs).
    """

    def __init__(self, name: str, cell: str, *edits: tuple[str, str], fails: str, says: str,
                 hidden_only: str | None = None, replay_fails_visibly: str | None = None) -> None:
        super().__init__(name, cell, *edits)
        self.fails, self.says, self.hidden_only = fails, says, hidden_only
        self.replay_fails_visibly = replay_fails_visibly


class Alternative(Mutation):
    """A different but correct implementation: every check must still pass."""
