"""The checker: nbgrader's Execute step, with the notebook run in the sandboxed executor and every
graded cell's checks run here, in the trusted process, on proxies of the student's objects.

`CheckedExecute` is the Execute preprocessor of nbgrader_config.py, so `make grade`, `make autograde`,
a plain `nbgrader autograde` and every route built on them grade this way:
- every cell but the graded ones runs in the executor's kernel, as nbgrader runs it;
- at a graded cell, the kernel runs the agent instead (ddpm_course/executor/agent.py), which connects to
  a socket of this process; the cell's own source (the one nbgrader restored, hidden tests included)
  runs here, its names looked up in the notebook through that socket (grading/remote.py);
- what it printed, and its failure if it failed, become the cell's outputs, after whatever the student's
  code printed while the checks ran it; nbgrader then scores the cell from them as usual.

The student's code never runs in this process and never sees a check, a hidden case's expected value,
a stand-in that computes an answer or the reference; nothing it sends back is executed.
"""
from __future__ import annotations

import builtins
import hmac
import io
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from nbformat import NotebookNode, v4
from nbgrader.utils import is_grade, is_solution
from traitlets import Unicode

from ddpm_course import checking
from ddpm_course.checking import CheckFailure
from ddpm_course.executor import wire
from ddpm_course.instructor import course
from ddpm_course.instructor.grading import remote, sandbox
from ddpm_course.instructor.grading.limits import LimitedExecute, error_output

CONNECT_TIMEOUT = 60  # seconds the kernel may take to start the agent
# What switches off, in the student's own process, the torch function mode through which a check sees which torch
# ops the student's code runs (checking.forbid_ops: no nn.GroupNorm inside GroupNorm). The mode runs beside the
# student's code, so grading reads the notebook instead: a check that forbade ops scores 0 where its source
# names one of these (lines of the release excepted).
SHORTCUT_BYPASS = re.compile(r"DisableTorchFunction|_disabled_torch_function|TorchFunctionMode|torch\.overrides|"
                             r"_(?:push|pop|set|get)_?(?:torch_function_)?mode|torch\._C\._|_ForbidOps|forbid_ops|"
                             r"forbidden_ops|ddpm_course\.executor|ddpm_course\.checking")


def shortcut_bypass(notebook, released: set[str]) -> str:
    """The first line of the student's own code (not a line of the release) that could switch off the checks'
    view of which torch ops run, or ''."""
    for cell in notebook.cells:
        if cell.cell_type != "code" or (is_grade(cell) and not is_solution(cell)):
            continue
        for line in cell.source.split("\n"):
            if line.strip() not in released and SHORTCUT_BYPASS.search(line):
                return line.strip()[:120]
    return ""


class _ThreadOutput(io.TextIOBase):
    """sys.stdout that sends a checker thread's printing to that thread's buffer, and the rest where it went."""

    def __init__(self, fallback) -> None:
        self.fallback = fallback
        self.buffers: dict[int, io.StringIO] = {}

    def write(self, text: str) -> int:
        return self.buffers.get(threading.get_ident(), self.fallback).write(text)

    def flush(self) -> None:
        self.fallback.flush()


def _route_stdout() -> _ThreadOutput:
    if not isinstance(sys.stdout, _ThreadOutput):
        sys.stdout = _ThreadOutput(sys.stdout)
    return sys.stdout


class RemoteNames(dict):
    """The namespace a graded cell runs in: what it assigns, then the student's notebook, then builtins."""

    def __init__(self, session: remote.Session) -> None:
        super().__init__()
        self.session = session

    def __missing__(self, name: str) -> Any:
        try:
            return self.session.name(name)
        except NameError:
            raise KeyError(name) from None


def run_graded_cell(source: str, session: remote.Session, grade_id: str) -> tuple[str, tuple[str, str] | None]:
    """Run a graded cell's source against the student's objects; return what it printed, and its
    error (name, message) if it failed."""
    output = io.StringIO()
    router = _route_stdout()
    router.buffers[threading.get_ident()] = output
    token = checking._EXECUTOR.set(session)
    failure = None
    try:
        code = compile(source, f"<graded cell {grade_id}>", "exec")
        exec(code, {"__builtins__": builtins, "__name__": "__main__"}, RemoteNames(session))
    except CheckFailure as err:
        failure = (type(err).__name__, str(err))
    except remote.RemoteError as err:
        failure = (type(err).__name__, f"{err}{checking._student_frame(err)}")
    except Exception as err:  # the cell's own code (a name the student deleted, a timeout): as Jupyter shows it
        failure = (type(err).__name__, str(err))
    finally:
        checking._EXECUTOR.reset(token)
        del router.buffers[threading.get_ident()]
    return output.getvalue(), failure


class CheckedExecute(LimitedExecute):
    """LimitedExecute, with the kernel in the executor sandbox and the graded cells' checks run here."""

    tree = Unicode("", help="the executor tree to use (default: built for the notebook's lesson)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        lesson = ((resources or {}).get("nbgrader") or {}).get("notebook")
        if sandbox.isolation() == "uid" and lesson in course.lessons() \
                and sandbox.others_can_reach(course.PACKAGE / lesson / "hidden.py"):
            raise RuntimeError(f"grading as root without namespaces runs the notebook as nobody, who could read the "
                               f"answers in {course.ROOT}: take them out of reach first (chmod -R o-rwx on that "
                               f"folder, with the Python environment outside it)")
        self._runtime = tempfile.mkdtemp(prefix="ddpm-executor-")
        tree = self.tree or str(executor_tree(lesson))
        self.kernel_manager_class = sandbox.SandboxedKernelManager
        self.config.SandboxedKernelManager.tree = tree
        self.config.SandboxedKernelManager.runtime = self._runtime
        self._socket_path = os.path.join(self._runtime, "checker.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self._socket_path)
        sandbox.give_to_kernel(self._runtime)
        sandbox.give_to_kernel(self._socket_path)
        self._listener.listen(1)
        released = {line.strip() for cell in course.read(course.release_path(lesson)).cells
                    for line in cell.source.split("\n")} if lesson in course.lessons() else set()
        self._bypass = shortcut_bypass(nb, released)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._listener.close()
            shutil.rmtree(self._runtime, ignore_errors=True)

    def preprocess_cell(self, cell, resources, index):
        if not (cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)) or self._died_in is not None:
            return super().preprocess_cell(cell, resources, index)
        return self._grade_cell(cell, resources, index), resources

    def _grade_cell(self, cell: NotebookNode, resources, index: int) -> NotebookNode:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        token = secrets.token_hex(16)
        deadline = time.monotonic() + (self.timeout or 120)
        result: dict[str, Any] = {}
        thread = threading.Thread(target=self._check, args=(cell.source, grade_id, token, deadline, result),
                                  name=f"checker {grade_id}", daemon=True)
        thread.start()
        serve = v4.new_code_cell(f'__import__("ddpm_course.executor.agent", fromlist=["serve"])'
                                 f'.serve({self._socket_path!r}, {token!r})')
        kept = self.nb.cells[index]
        try:
            super().preprocess_cell(serve, resources, index)
        finally:
            self.nb.cells[index] = kept
            if thread.is_alive():  # the agent never came, or stopped answering: the checker must give up now
                result.setdefault("abandoned", True)
                self._unblock()
            thread.join()
        printed = [o for o in serve.outputs if o.get("output_type") in ("stream", "display_data")]
        cell.outputs = printed
        if result.get("printed"):
            cell.outputs.append(v4.new_output("stream", name="stdout", text=result["printed"]))
        failure = result.get("failure")
        if failure is None and not result.get("ran"):
            died = [o for o in serve.outputs if o.get("output_type") == "error"]
            why = f"{died[0].get('ename')}: {died[0].get('evalue')}" if died else "the checks did not run"
            failure = ("GradingError", f"this cell's checks could not reach the notebook's code ({why})")
        if failure is not None:
            cell.outputs.append(error_output(*failure))
        cell.execution_count = serve.get("execution_count")
        return cell

    def _unblock(self) -> None:
        """Wake a checker thread that still waits for the agent to connect."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as poke:
                poke.settimeout(1)
                poke.connect(self._socket_path)
                wire.send(poke, b"")
        except OSError:
            pass

    def _check(self, source: str, grade_id: str, token: str, deadline: float, result: dict) -> None:
        connection = self._connect(token, deadline, result)
        if connection is None:
            return
        with connection:
            session = remote.Session(connection, deadline)
            try:
                result["printed"], result["failure"] = run_graded_cell(source, session, grade_id)
                result["ran"] = True
            finally:
                session.close()
            if result["failure"] is None and session.forbade and self._bypass:
                result["failure"] = ("ShortcutCheckBypassed", "this check must see which torch ops your code runs "
                                     "(no built-in shortcut), and your notebook switches that view off: "
                                     f"`{self._bypass}`")

    def _connect(self, token: str, deadline: float, result: dict) -> socket.socket | None:
        """The agent's connection for this cell: the first that says this cell's token. Any other (left over from
        an earlier cell, or dialled by the notebook's own code) is closed, and the wait goes on."""
        limit = min(deadline, time.monotonic() + CONNECT_TIMEOUT)
        while not result.get("abandoned") and time.monotonic() < limit:
            self._listener.settimeout(max(limit - time.monotonic(), 0.01))
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return None
            connection.settimeout(min(5.0, max(limit - time.monotonic(), 0.01)))
            try:
                hello = wire.receive(connection)
            except (OSError, wire.WireError):
                hello = b""
            if hmac.compare_digest(hello, token.encode()) and not result.get("abandoned"):
                connection.settimeout(None)
                return connection
            connection.close()
        return None


_TREES: dict[str, Path] = {}


def executor_tree(lesson: str | None) -> Path:
    """This process's executor tree of a lesson, built on first use (removed when the process ends)."""
    if lesson not in _TREES:
        if lesson not in course.lessons():
            raise ValueError(f"cannot grade a notebook of no lesson ({lesson!r})")
        folder = Path(tempfile.mkdtemp(prefix=f"ddpm-tree-{lesson}-"))
        os.chmod(folder, 0o755)
        _TREES[lesson] = sandbox.build_tree(lesson, folder)
    return _TREES[lesson]
