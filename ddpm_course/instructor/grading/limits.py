"""Limits on the student code that autograding runs: time per cell, memory per kernel, output size.

Limits, not a sandbox: graded code still runs as the grader (see README, "Security").
nbgrader_config.py plugs these classes into nbgrader's autograde pipeline, so `make autograde`,
`make grade` and a plain `nbgrader autograde` all run with them; their defaults are defined here,
once, and the per-cell timeout in nbgrader_config.py:

- `LimitedExecute` runs each notebook in a kernel started by `LimitedKernelManager`, which
  caps the kernel's address space (RLIMIT_AS): a runaway allocation raises MemoryError in
  the student's cell instead of taking the grading machine down. The per-cell timeout is
  nbgrader's own `Execute.timeout`.
- `CapOutput` extends nbgrader's LimitOutput (a cap on *lines*) with a cap on *characters*
  per cell, since 100 MB printed on one line is a single line.

Grading kernels also get ddpm_course/grading_kernel.py's ENVIRONMENT (DDPM_COURSE_QUICK=1 and
DDPM_COURSE_FIXTURE=1) unless the environment sets them: autograding grades code, not training runs
or downloads. The per-cell timeout is grading_kernel.TIMEOUT, which nbgrader_config.py gives nbgrader.
"""
from __future__ import annotations

import os
import sys

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, LimitOutput
from traitlets import Integer
from traitlets.config import Config

from ddpm_course.grading_kernel import ENVIRONMENT

# Added to each grading kernel's environment unless set: what `make progress` gives its kernel too (lesson 4
# trains a tiny model on synthetic data), and one thread per kernel: workers already fill the cores, and
# torch's default of a thread per core would oversubscribe them several-fold (4-5x slower notebooks, measured here).
GRADING_ENVIRONMENT = {**ENVIRONMENT, "OMP_NUM_THREADS": "1"}

# Runs in a fresh interpreter between the kernel manager and the kernel: cap the address
# space, then become the kernel. argv: limit in bytes, then the kernel command.
_SET_LIMIT_THEN_EXEC = ("import os, resource, sys; n = int(sys.argv[1]); "
                        "resource.setrlimit(resource.RLIMIT_AS, (n, n)); os.execvp(sys.argv[2], sys.argv[2:])")


class LimitedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels cannot use more than `memory_mb` of address space, and
    start with GRADING_ENVIRONMENT."""

    memory_mb = Integer(4096, help="address space limit of each grading kernel in MiB (0: no limit)"
                        ).tag(config=True)

    async def start_kernel(self, **kwargs) -> None:
        """Start the kernel with the grading environment added (the instructor's settings win)."""
        kwargs["env"] = {**GRADING_ENVIRONMENT, **kwargs.get("env", os.environ)}
        await super().start_kernel(**kwargs)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.memory_mb <= 0 or sys.platform == "win32":
            return cmd
        return [sys.executable, "-c", _SET_LIMIT_THEN_EXEC, str(self.memory_mb * 2**20), *cmd]


class LimitedExecute(Execute):
    """nbgrader's Execute preprocessor, with kernels from LimitedKernelManager, that survives
    what would make nbgrader give up on the whole notebook and score it 0: when the kernel
    dies, the cell that killed it and every cell below get an error output, so the checks that
    ran before still count; when a cell's output is late, that cell fails, and grading goes on."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("kernel_manager_class", LimitedKernelManager)
        super().__init__(*args, **kwargs)
        self._died_in: int | None = None

    def preprocess(self, nb, resources=None, km=None):
        self._died_in = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._died_in is not None:
            cell.outputs = [error_output("NotRun", f"not run: the kernel died in cell {self._died_in + 1}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except CellTimeoutError:
            # the reply came, but not all output within iopub_timeout: grading the cell on part of
            # its output could miss the error of a failed check, so it fails, and the rest goes on
            cell.outputs.append(error_output("OutputTimeout", "not all output of this cell arrived in time "
                                                         "(too much output?); the cell counts as failed"))
            return cell, resources
        except DeadKernelError:
            self._died_in = index
            cell.outputs.append(error_output("DeadKernelError", "the kernel died running this cell (a crash, "
                                                          "os._exit, or killed by the system, e.g. for memory)"))
            return cell, resources


def error_output(name: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


class CapOutput(LimitOutput):
    """LimitOutput, plus at most `max_chars` characters of text per cell and `max_image_chars`
    per image, so one student's output cannot bloat the autograded notebook and feedback
    (LimitOutput counts lines, and 100 MB printed on one line is one line)."""

    max_chars = Integer(100_000, help="maximum characters of text output per cell (-1: no limit)").tag(config=True)
    max_image_chars = Integer(2_000_000, help="maximum size of each base64 image (-1: no limit)").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        budget = self.max_chars if self.max_chars >= 0 else float("inf")

        def cut(text: str, shared: bool = True) -> str:
            """Keep what fits in the cell's budget; an error message has a budget of its own,
            so the failure a check reports survives any amount of printing before it."""
            nonlocal budget
            room = budget if shared else self.max_chars if self.max_chars >= 0 else float("inf")
            kept = text[:int(max(min(room, len(text)), 0))]
            if shared:
                budget -= len(kept)
            return kept if len(kept) == len(text) else kept + f"\n... output truncated ({len(text):,} characters) ...\n"

        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = cut(output.text)
            if output.get("output_type") == "error":
                output.evalue = cut(output.evalue, shared=False)
                output.traceback = [cut(line, shared=False) for line in output.traceback]
            data = output.get("data", {})
            for mime, value in list(data.items()):
                if mime.startswith("text/") and isinstance(value, str):
                    data[mime] = cut(value)
                elif 0 <= self.max_image_chars < len(str(value)):
                    del data[mime]
                    data["text/plain"] = f"[{mime} output of {len(str(value)):,} characters removed]"
        return cell, resources


def limits_config(timeout: int | None = None, memory_mb: int | None = None) -> Config:
    """Config overriding nbgrader_config.py's per-cell timeout (s) and kernel memory limit (MiB)."""
    config = Config()
    if timeout is not None:
        config.Execute.timeout = timeout
    if memory_mb is not None:
        config.LimitedKernelManager.memory_mb = memory_mb
    return config
