"""`make progress`: which exercises of your notebooks pass their checks, in one table.

    python -m ddpm_course.progress [NOTEBOOK ...] [--timeout S]

Runs each notebook (default: every notebooks/<lesson>/<lesson>.ipynb below the current folder)
from top to bottom in a fresh kernel, as "Restart Kernel and Run All Cells" would, without
changing the file, and prints every check cell: PASS or FAIL, its points and the first line of
its message. Only the checks in your notebook run, the visible ones: grading adds hidden cases,
so a pass here is a good sign, not a grade. Lesson 4 runs in quick mode on synthetic data
(DDPM_COURSE_QUICK=1, DDPM_COURSE_FIXTURE=1, unless you set them), as grading does.

Works from the student bundle alone; `python -m pytest -p ddpm_course.pytest_grading --checks visible`
runs the same thing as one pytest test per check, with the released check cells put back first.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from ddpm_course.cells import check_cells, error_message, errors, restore_checks
from ddpm_course.grading_kernel import ENVIRONMENT, TIMEOUT


@dataclass
class Check:
    """One check cell of a notebook that ran: `output` is the error it ended in, whole, or empty."""
    grade_id: str
    points: float
    exercise: str
    output: str = ""

    @property
    def passed(self) -> bool:
        return not self.output


def error_of(cell, timeout: int) -> str:
    """The error a cell ended in, as `Name: message`; an interrupted cell ran past the time limit."""
    found = errors(cell)
    if not found:
        return "" if cell.get("execution_count") is not None else "NotRun: this cell did not run"
    if found[0]["ename"] == "KeyboardInterrupt":
        return f"CellTimeoutError: ran past the time limit of {timeout} s (an infinite loop?)"
    return error_message(found[0])


def run_visible(path: Path, timeout: int = TIMEOUT, release=None) -> list[Check]:
    """Run a notebook top to bottom in a fresh kernel, in its own folder; return each check cell's outcome.
    Given the released notebook `release`, its check cells are put back first (cells.restore_checks), as the
    visible grading does. Raises ValueError when the file is not a readable notebook."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as err:  # whatever the file is, the student must hear why it cannot run
        raise ValueError(f"{path.name} is not a readable notebook ({type(err).__name__}: "
                         f"{str(err).strip().splitlines()[0][:200] if str(err).strip() else ''})") from None
    if release is not None:
        restore_checks(notebook, release)
    client = NotebookClient(notebook, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                            kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # its start-up warnings are noise here
    try:
        client.execute(env={**ENVIRONMENT, **os.environ})
    except DeadKernelError:
        pass  # the cells from the one that killed the kernel on have no count: error_of says "did not run"
    return [Check(c.grade_id, float(c.points), c.exercise, error_of(notebook.cells[c.index], timeout))
            for c in check_cells(notebook)]


def table(path: Path, checks: list[Check], seconds: float) -> str:
    """A line per check cell under a line with the notebook's visible points, like `make grade`."""
    score = sum(c.points for c in checks if c.passed)
    lines = [f"{path}: {score:g} / {sum(c.points for c in checks):g} points of visible checks ({seconds:.0f} s)"]
    exercises, ids = (max((len(getattr(c, key)) for c in checks), default=0) for key in ("exercise", "grade_id"))
    for c in checks:
        message = c.output.strip().split("\n")[0][:160]
        lines.append(f"  {'PASS' if c.passed else 'FAIL'}  {c.exercise:{exercises}}  {c.grade_id:{ids}}  "
                     f"{c.points if c.passed else 0:g}/{c.points:g}" + (f"  {message}" if message else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/<lesson>/<lesson>.ipynb")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help=f"seconds per cell (default: {TIMEOUT})")
    args = parser.parse_args()
    paths = args.notebooks or sorted(p for p in Path("notebooks").glob("*/*.ipynb") if p.stem == p.parent.name)
    if not paths:
        sys.exit("no notebooks/<lesson>/<lesson>.ipynb here: name the notebooks to check")
    for path in paths:
        start = time.perf_counter()
        try:
            print(table(path, run_visible(path, args.timeout), time.perf_counter() - start), flush=True)
        except ValueError as err:
            print(f"{path}: {err}", flush=True)


if __name__ == "__main__":
    main()
