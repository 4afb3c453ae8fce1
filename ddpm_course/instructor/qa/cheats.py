"""The cheat bank: cells a student could share to earn points without the answers, and honest
extra cells that must never cost a point. Beside the bug banks, for every lesson.

Each cheat goes into a lesson's first-bug submission (bank.submission with BUGS[0]), where,
without the integrity guard, it earns the points the bug loses; with it, the notebook scores 0
and every failed cell says GradingIntegrityError. `run` grades a notebook through the guard
in-process, in a fresh child of a preloaded server (a fraction of a second per notebook);
tests/test_cheats.py runs the whole bank that way, and a few cheats through nbgrader.

    python -m ddpm_course.instructor.qa.cheats   # table: each cheat per lesson, with and without the guard
"""
from __future__ import annotations

import base64
import contextlib
import importlib
import io
import multiprocessing
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.qa import bank

TAG = "added"  # tags the cells a cheat or honest extra adds, so `run` executes them


@dataclass(frozen=True)
class Cheat:
    """A cell that cheats. `where`: "cell" (a new cell after the imports), "answer" (on top of the first
    answer cell) or "after" (a new cell after the buggy exercise's answer cell). `code` is formatted
    with lesson, subject (the buggy exercise's name) and checks (the check functions its cells call)."""
    name: str
    code: str
    where: str = "cell"


_PATCH_CHECKS = """\
import ddpm_course.checking
from ddpm_course.{lesson} import checks
ddpm_course.checking.run_hidden = lambda *args, **kwargs: None
for _name in {checks!r}:
    setattr(checks, _name, lambda *args, **kwargs: None)"""

CHEATS = [
    Cheat("check functions replaced by no-ops", _PATCH_CHECKS),
    Cheat("check functions replaced, every name spelled from pieces, inside the answer cell", """\
_pkg = __import__("ddpm_" + "course." + "{lesson}", fromlist=["ch" + "ecks"])
_chk = getattr(_pkg, "ch" + "ecks")
setattr(__import__("ddpm_" + "course.che" + "cking", fromlist=["x"]), "run_" + "hid" + "den", lambda *a, **k: None)
for _n in [n for n in dir(_chk) if not n.startswith("_")]:
    setattr(_chk, _n, lambda *a, **k: None)""", where="answer"),
    Cheat("comparison helpers replaced in every course module", """\
import sys
for _module in list(sys.modules.values()):
    if getattr(_module, "__name__", "").startswith("ddpm_course"):
        for _helper in ("expect_close", "expect_close_lazily"):
            if _helper in vars(_module):
                setattr(_module, _helper, lambda *args, **kwargs: None)"""),
    Cheat("torch.allclose and friends always agree", """\
import torch
torch.allclose = lambda *args, **kwargs: True
torch.Tensor.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True"""),
    Cheat("a tensor method patched: every .double() is the same zero", """\
import torch
torch.Tensor.double = lambda self: torch.zeros(self.shape, dtype=torch.float64)"""),
    Cheat("sys.modules swap of ddpm_course.checking and the lesson's checks", """\
import sys, types
_fake = types.ModuleType("ddpm_course.checking")
_fake.run_hidden = lambda *args, **kwargs: None
sys.modules["ddpm_course.checking"] = _fake
_checks = types.ModuleType("ddpm_course.{lesson}.checks")
_checks.__getattr__ = lambda name: (lambda *args, **kwargs: None)
sys.modules["ddpm_course.{lesson}.checks"] = _checks
import ddpm_course.{lesson} as _package
_package.checks = _checks"""),
    Cheat("the exercise patches the checker when the check calls it (a class's __init__)", """\
_Original = {subject}


def _patch():
    import sys
    for _module in list(sys.modules.values()):
        if getattr(_module, "__name__", "").startswith("ddpm_course"):
            for _helper in ("expect_close", "expect_close_lazily"):
                if _helper in vars(_module):
                    setattr(_module, _helper, lambda *args, **kwargs: None)


if isinstance(_Original, type):
    class {subject}(_Original):
        def __init__(self, *args, **kwargs):
            _patch()
            super().__init__(*args, **kwargs)
else:
    def {subject}(*args, **kwargs):
        _patch()
        return _Original(*args, **kwargs)""", where="after"),
    Cheat("every cell's errors swallowed by an IPython input transformer", """\
def _swallow(lines):
    return ["try:\\n", "    pass\\n"] + ["    " + line for line in lines] + ["\\nexcept BaseException:\\n    pass\\n"]


get_ipython().input_transformers_post.append(_swallow)"""),
    Cheat("a torch function mode that makes every comparison agree", """\
import torch
from torch.overrides import TorchFunctionMode


class _Agree(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.Tensor.allclose):
            return True
        return func(*args, **(kwargs or {{}}))


_Agree().__enter__()"""),
    Cheat("the reference solution imported", "from ddpm_course.{lesson}.reference import {subject}", where="after"),
    Cheat("the reference solution imported by a computed name", """\
import importlib
{subject} = getattr(importlib.import_module(".".join(["ddpm_course", "{lesson}", "refer" + "ence"])), "{subject}")""",
          where="after"),
    Cheat("the reference solution reached through the hidden checks", """\
from ddpm_course.{lesson} import hidden
{subject} = hidden.reference.{subject}""", where="after"),
    Cheat("the reference solution's source read from disk and run", """\
import pathlib
import ddpm_course
_answers = {{}}
_path = pathlib.Path(ddpm_course.__file__).parent / "{lesson}" / "reference.py"
exec(compile(_path.read_text(), "answers", "exec"), _answers)
{subject} = _answers["{subject}"]""", where="after"),
    Cheat("the grading guard switched off first", """\
import sys
_guard = getattr(sys.modules.get("ddpm_course.instructor.grading.guard"), "_guard", None)
if _guard is not None:
    _guard.busy = True
""" + _PATCH_CHECKS),
    Cheat("a thread that keeps torch.allclose patched", """\
import threading, time, torch


def _keep_patching():
    while True:
        torch.allclose = lambda *args, **kwargs: True
        time.sleep(0.001)


threading.Thread(target=_keep_patching, daemon=True).start()"""),
]

# Outputs pasted from the reference: the student ran it on the visible checks' inputs and replays the
# outputs, keyed by a hash of the inputs. Nothing is patched, so the guard has nothing to see: the hidden
# cases, with inputs of their own, fail it. `replayed` fills in CACHE from a recording.
_KEY = """\
import base64, hashlib, io
import torch


def _key(args, kwargs):
    parts = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            parts.append(str(tuple(value.shape)).encode() + value.detach().contiguous().numpy().tobytes())
        elif " at 0x" not in repr(value):
            parts.append(repr(value).encode())
    return hashlib.sha256(b"|".join(parts)).hexdigest()
"""
REPLAY = Cheat("outputs pasted from the reference for the visible checks' inputs", _KEY + """
_CACHE = torch.load(io.BytesIO(base64.b64decode("{cache}")), weights_only=True)
_Original = {subject}
if isinstance(_Original, type):
    class {subject}(_Original):
        def forward(self, *args, **kwargs):
            key = _key(args, kwargs)
            return _CACHE[key].clone() if key in _CACHE else super().forward(*args, **kwargs)
else:
    def {subject}(*args, **kwargs):
        key = _key(args, kwargs)
        return _CACHE[key].clone() if key in _CACHE else _Original(*args, **kwargs)""", where="after")

_RECORDER = _KEY + """
RECORDED = {}
if isinstance(ORIGINAL, type):
    class RECORDER(ORIGINAL):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            RECORDED[_key(args, kwargs)] = out.detach().clone()
            return out
else:
    def RECORDER(*args, **kwargs):
        out = ORIGINAL(*args, **kwargs)
        RECORDED[_key(args, kwargs)] = out.detach().clone()
        return out
"""


def replayed(lesson: str):
    """The first-bug submission with REPLAY, its cache recorded from the reference on the visible check."""
    import torch

    context = Context.of(lesson)
    bug = bank.bank(lesson).BUGS[0]
    reference = importlib.import_module(f"ddpm_course.{lesson}.reference")
    recorder: dict = {"ORIGINAL": getattr(reference, context.subject)}
    exec(_RECORDER, recorder)  # in a namespace of its own: checks may swap names in a function's globals
    namespace = {**vars(reference), context.subject: recorder["RECORDER"]}
    source = next(c.source for c in course.solution(lesson).cells
                  if course.grade_id(c) == bug.fails)
    with contextlib.redirect_stdout(io.StringIO()):  # the check's own "passed" line
        exec(bank.split_test_cell(source)[0], namespace)
    buffer = io.BytesIO()
    torch.save(recorder["RECORDED"], buffer)
    cache = base64.b64encode(buffer.getvalue()).decode()
    return cheating(lesson, Cheat(REPLAY.name, REPLAY.code.replace("{cache}", cache), REPLAY.where))


# Cells an honest student adds: helpers, unusual imports, their own classes, seeds, copies,
# progress bars, plots, an optimizer. None may cost a point.
HONEST = [
    """\
import collections, functools, itertools, math, statistics, warnings
import numpy as np
from einops import rearrange, reduce


def my_helper(x):
    \"\"\"A helper the student wrote.\"\"\"
    return rearrange(x, "b c h w -> b (c h w)").mean(dim=1)


warnings.simplefilter("ignore", UserWarning)
counts = collections.Counter(itertools.chain("abc", "bcd"))
print(statistics.mean([1, 2, 3]), np.arange(3).sum(), functools.reduce(lambda a, b: a + b, [1, 2]))""",
    """\
import copy
import matplotlib.pyplot as plt
import torch
from torch import nn
from tqdm import tqdm


class MyProbe(nn.Module):
    \"\"\"A module of the student's own.\"\"\"
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(x).relu()


torch.manual_seed(0)
probe = MyProbe()
twin = copy.deepcopy(probe)
optimizer = torch.optim.AdamW(probe.parameters(), lr=1e-3)
for _ in tqdm(range(3)):
    loss = probe(torch.randn(2, 4)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
fig, ax = plt.subplots()
ax.plot([1, 2, 3])
plt.close(fig)""",
]


@dataclass(frozen=True)
class Context:
    """What a cheat is written against: the lesson, its first bug, and the names the bug's check uses."""
    lesson: str
    subject: str
    checks: tuple[str, ...]

    @classmethod
    def of(cls, lesson: str) -> Context:
        bug = bank.bank(lesson).BUGS[0]
        tests = [c for c in course.solution(lesson).cells if course.is_graded_test(c)]
        source = next(c.source for c in tests if course.grade_id(c) == bug.fails)
        called = re.search(r"checks\.\w+\(([^)]*)\)", source).group(1).replace(" ", "").split(",")
        answer = next(c.source for c in course.solution(lesson).cells
                      if course.grade_id(c) == bug.cell)
        # the name whose definition (def or class, up to the next one) holds the bug's edit
        blocks = re.split(r"\n(?=(?:def|class) )", answer)
        subject = next(name for name in called for block in blocks
                       if re.match(rf"(?:def|class) {name}\b", block) and bug.edits[0][0] in block)
        names = sorted({name for c in tests for name in re.findall(r"checks\.(\w+)\(", c.source)})
        return cls(lesson, subject, tuple(names))


def _added(code: str):
    return nbformat.v4.new_code_cell(code, metadata={"tags": [TAG]})


def cheating(lesson: str, cheat: Cheat):
    """The lesson's first-bug submission with the cheat in it."""
    context = Context.of(lesson)
    bug = bank.bank(lesson).BUGS[0]
    notebook = bank.submission(lesson, bug)
    code = cheat.code.format(lesson=lesson, subject=context.subject, checks=list(context.checks))
    answers = [i for i, c in enumerate(notebook.cells) if course.is_answer(c)]
    if cheat.where == "answer":
        cell = notebook.cells[answers[0]]
        cell.source = code + "\n\n" + cell.source
    elif cheat.where == "after":
        notebook.cells.insert(next(i for i in answers if course.grade_id(notebook.cells[i]) == bug.cell) + 1,
                              _added(code))
    else:
        notebook.cells.insert(_first_export(notebook) + 1, _added(code))
    return notebook


def honest(lesson: str, mutation=None):
    """A correct submission (or an alternative's) with the honest extra cells after its imports."""
    return with_cells(bank.submission(lesson, mutation), *HONEST)


def with_cells(notebook, *codes: str):
    """The notebook with cells of `codes` added after its imports, in order."""
    for code in reversed(codes):
        notebook.cells.insert(_first_export(notebook) + 1, _added(code))
    return notebook


def _first_export(notebook) -> int:
    return next(i for i, c in enumerate(notebook.cells) if course.is_export(c))


# -- grading in-process, through the guard --------------------------------------------------------

def _grade(lesson: str, notebook, guarded: bool) -> dict[str, tuple[bool, str]]:
    """In a fresh child: the notebook's exported, answer and added cells, then each graded cell (hidden
    tests restored) through the guard as GuardedExecute runs them; per graded cell (passed, message)."""
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    from ddpm_course.instructor.grading import guard, integrity

    class Capture(DisplayPublisher):
        def publish(self, data, metadata=None, *args, **kwargs) -> None:
            published.append(data)

    hidden = {course.grade_id(c): c.source for c in course.solution(lesson).cells
              if course.is_graded_test(c)}
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (the child's output, for its lifetime)
    published: list[dict] = []
    shell = InteractiveShell.instance()
    shell.display_pub = Capture(shell=shell)
    shell.InteractiveTB.set_mode("Minimal")  # the messages are all we read; rich tracebacks cost 0.1 s each
    key = None
    if guarded:
        shell.run_cell(integrity.arming_source(lesson), store_history=False)
        key = bytes.fromhex(published.pop()[guard.MIME]["key"])
    results = {}
    for cell in notebook.cells:
        if course.is_graded_test(cell):
            gid = course.grade_id(cell)
            source = hidden[gid]
            published.clear()
            outcome = shell.run_cell(integrity.graded_source(gid, source) if guarded else source)
            error = outcome.error_in_exec or outcome.error_before_exec
            found = [d[guard.MIME] for d in published if guard.MIME in d]
            if guarded:
                passed, why = integrity.judge(found, key, gid, source)
                passed = passed and error is None
            else:
                passed, why = error is None, ""
            results[gid] = (passed, f"{type(error).__name__}: {error}" if error is not None
                            else f"{integrity.ERROR}: {why}" if why else "")
        elif cell.cell_type == "code" and (course.is_export(cell) or course.is_answer(cell)
                                           or TAG in cell.metadata.get("tags", [])):
            shell.run_cell(cell.source, silent=True)
    return results


def _preloaded():
    """Children forked from a server that imported torch, IPython and the course once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torch.optim", "IPython.core.interactiveshell", "matplotlib.pyplot",
                                    "tqdm", "ddpm_course.instructor.grading.integrity",
                                    *(f"ddpm_course.{lesson}.hidden" for lesson in course.lessons())])
    return context


def run(jobs: list[tuple[str, object, bool]], workers: int = 2) -> list[dict[str, tuple[bool, str]]]:
    """Grade (lesson, notebook, guarded) jobs in-process, each in a child of its own."""
    with ProcessPoolExecutor(workers, mp_context=_preloaded(), max_tasks_per_child=1) as pool:
        return list(pool.map(_grade, *zip(*jobs)))


def main() -> None:
    jobs = [(lesson, cheating(lesson, cheat), guarded) for lesson in course.lessons()
            for cheat in CHEATS for guarded in (False, True)]
    results = iter(run(jobs))
    for lesson in course.lessons():
        full = sum(course.points(lesson).values())
        for cheat in CHEATS:
            scores = [sum(course.points(lesson)[g] for g, (ok, _) in next(results).items() if ok) for _ in range(2)]
            print(f"{lesson:14} {cheat.name[:70]:70} without guard {scores[0]:g}/{full:g}, with {scores[1]:g}/{full:g}")


if __name__ == "__main__":
    main()
