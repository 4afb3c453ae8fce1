"""The checker (grading/checker.py): does a graded cell run here, on the notebook's objects, print what it would
print in the notebook and fail as it would, and does a notebook that switches off the checks' view of torch ops
lose the checks that need it?"""
from __future__ import annotations

import nbformat
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import checker, remote
from ddpm_course.instructor.qa import bank
from ddpm_course.mutations import Bug

LESSON = course.lessons()[0]


def namespace(mutation=None) -> dict:
    """The lesson's answers (with a known bug, if given), defined as the notebook would define them."""
    found: dict = {"__name__": "__main__"}
    for cell in course.solution(LESSON).cells:
        if course.is_export(cell):
            source = mutation.apply(cell.source) if mutation and course.grade_id(cell) == mutation.cell else cell.source
            exec(course.strip_solution_markers(source), found)
    return found


def graded_source(grade_id: str) -> str:
    return next(c.source for c in course.solution(LESSON).cells if course.grade_id(c) == grade_id)


def test_a_graded_cell_prints_its_pass_here_and_sees_the_notebooks_names():
    """Does a graded cell of the solution pass, visible and hidden checks alike, printing its pass line?"""
    gid = list(course.points(LESSON))[0]
    printed, failure = checker.run_graded_cell(graded_source(gid), remote.loopback(namespace()), gid)
    assert failure is None and "passed" in printed


def test_a_known_bug_fails_its_cell_with_the_checks_message():
    """Does the first known bug fail its cell with a CheckFailure that says what the bank says it does?"""
    bug = bank.bank(LESSON).BUGS[0]
    _, failure = checker.run_graded_cell(graded_source(bug.fails), remote.loopback(namespace(bug)), bug.fails)
    assert failure is not None and failure[0] == "CheckFailure" and bug.says in failure[1]


def test_a_name_the_notebook_never_defined_fails_as_in_jupyter():
    """Does a graded cell whose subject the notebook never defined fail with NameError, as it would in the notebook?"""
    gid = list(course.points(LESSON))[0]
    _, failure = checker.run_graded_cell(graded_source(gid), remote.loopback({}), gid)
    assert failure is not None and failure[0] == "NameError"


@pytest.mark.parametrize(("line", "flagged"), [
    ("with torch._C.DisableTorchFunction():", True),
    ("import ddpm_course.checking as c; c._ForbidOps.__torch_function__ = None", True),
    ("from torch.overrides import TorchFunctionMode", True),
    ("y = torch.nn.functional.silu(x)  # my own check, in an exploration cell", False),
    ("from ddpm_course.checking import run_hidden", False),  # a line of the release, as a copied check cell has it
])
def test_a_line_that_switches_off_the_checks_view_of_torch_ops_is_found(line, flagged):
    """Does shortcut_bypass find the student's own line that could switch off the forbidden-op view, but not a line
    of the release (a copied check cell), nor a graded cell's own source?"""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(line)]
    released = {line.strip() for cell in course.release(LESSON).cells for line in cell.source.split("\n")}
    assert bool(checker.shortcut_bypass(notebook, released)) == flagged


# The alternatives tried per lesson: the first five (lesson 2's checks, which ask its modules most, take a second
# and a half a run; `make test` has a time budget). The bank command tries them all, with every bug.
ALTERNATIVES_TRIED = 5


def mutations_tried(lesson: str) -> list:
    """The solution (None), the alternatives tried, and the lesson's first known bug."""
    bank_module = bank.bank(lesson)
    return [None, *bank_module.ALTERNATIVES[:ALTERNATIVES_TRIED], bank_module.BUGS[0]]


@pytest.mark.parametrize("lesson", course.lessons())
def test_graded_as_grading_runs_the_checks_each_cell_gets_what_the_bank_expects(lesson):
    """Run as grading runs them (here, on proxies of the notebook's objects: bank.run_lesson(remote=True)), do the
    checks pass the solution and the valid alternatives, fail every stub with "not implemented yet", and fail the
    lesson's first known bug in its own exercise alone, saying what the bank says? (Every bug and alternative of
    every lesson: `python -m ddpm_course.instructor.qa.bank --remote`.)"""
    for mutation in mutations_tried(lesson):
        failed = {gid: r.message for gid, r in bank.run_lesson(lesson, mutation, remote=True).items() if not r.passed}
        if isinstance(mutation, Bug):
            assert mutation.fails in failed and set(failed) <= bank.exercise_checks(lesson)[mutation.cell], failed
            assert mutation.says in failed[mutation.fails], failed
        else:
            assert failed == {}, (mutation.name, failed)
    stubs = bank.run_lesson(lesson, stubs=True, remote=True, every_part=True)
    assert all(r.visible and "not implemented yet" in r.visible and "not implemented yet" in r.hidden
               for r in stubs.values()), {gid: r.message for gid, r in stubs.items()}
