"""The honest bank: correct notebooks with the unusual but legitimate code students write, each of which must keep
every point on every route (tests/test_habits.py grades them through the real grading).

Each habit is a few cells added to a correct submission (bank.submission) of a lesson: after its imports, or
right after an exercise's answer; a habit may also copy a cell as a student would (Jupyter keeps the copy's
metadata, nbgrader#1083).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.qa import bank

TAG = "added"


@dataclass(frozen=True)
class Habit:
    """Cells of honest code; `at`: "start" (after the imports) or "end" (after the last cell);
    `copy`: also paste a copy of the first graded check cell ("check") or answer cell ("answer") below it."""
    name: str
    cells: tuple[str, ...] = ()
    at: str = "start"
    copy: str = ""
    lesson: str = course.lessons()[0]


HABITS = [
    Habit("autoreload 2, the most common first cell", ("%load_ext autoreload\n%autoreload 2",)),
    Habit("autoreload 1 with %aimport", ("%load_ext autoreload\n%autoreload 1\n%aimport einops",)),
    Habit("a check cell copied and pasted (the same grade_id and cell id twice)", copy="check"),
    Habit("an answer cell copied and pasted", copy="answer"),
    Habit("torch.set_default_device('cpu')", ("import torch\ntorch.set_default_device('cpu')",)),
    Habit("the profiler: %prun and %timeit", ("x = torch.randn(2, 6, 5, 7)",
                                              "%prun -q -l 5 GroupNorm(3, 6)(x)", "%timeit -n 2 -r 1 swish(x)"),
          at="end"),
    Habit("gradients switched off for exploring: torch.set_grad_enabled(False)", ("torch.set_grad_enabled(False)",)),
    Habit("inference_mode and no_grad in exploration, and a background thread still running", (
        "with torch.inference_mode():\n    torch.randn(3).exp()",
        "@torch.no_grad()\ndef look(x):\n    return x * 2\nlook(1)", """\
import threading, time
ticks = []


def tick():
    while True:
        ticks.append(time.time())
        time.sleep(0.05)


threading.Thread(target=tick, daemon=True).start()""",)),
    Habit("the garbage collector run by hand, then disabled", ("import gc\ngc.collect()\ngc.disable()",)),
    Habit("%%capture and %%time cells", ("%%capture captured\nprint('not shown')", "%%time\nsum(range(1000))")),
    Habit("a helper module written with %%writefile and imported", (
        "%%writefile my_helpers.py\ndef double(x):\n    return 2 * x\n", "from my_helpers import double\ndouble(3)")),
    Habit("%matplotlib inline and a figure", ("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                                              "plt.plot([1, 2, 3])\nplt.show()",)),
    Habit("torch.set_default_dtype(torch.float64)", ("torch.set_default_dtype(torch.float64)",)),
    Habit("threads, seeds, warnings, environment and recursion limit set by hand", (
        "import os, random, sys, warnings\ntorch.set_num_threads(2)\ntorch.manual_seed(1234)\nrandom.seed(0)\n"
        "warnings.simplefilter('ignore')\nos.environ['MY_SETTING'] = '1'\nsys.setrecursionlimit(5000)",)),
    Habit("top-level await", ("import asyncio\nawait asyncio.sleep(0)",)),
    Habit("an exploration cell that raises", ("undefined_name + 1",)),
    Habit("shell commands and IPython's own magics: !ls, !pip, %who, %env, %pwd, %history", (
        "!ls\n!pip list 2>/dev/null | head -3", "%who\n%env MY_VARIABLE=1\n%pwd\n%history -l 2")),
    Habit("lots of printing, tqdm bars and a tiny training loop", ("for i in range(3000):\n    print('line', i)",
                                                                 """\
from tqdm import tqdm
probe = nn.Linear(4, 4)
optimizer = torch.optim.AdamW(probe.parameters(), lr=1e-3)
for _ in tqdm(range(3)):
    loss = probe(torch.randn(2, 4)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()""",)),
    Habit("lesson 2: its own modules, deepcopy and hooks", ("""\
import copy
block = ResidualBlock(8, 8, 16, 2)
twin = copy.deepcopy(block)
handle = twin.register_forward_hook(lambda module, args, out: None)
twin(torch.randn(1, 8, 4, 4), torch.randn(1, 16)).shape""",), at="end", lesson=course.lessons()[1]),
    Habit("lesson 3: gradients off from the start", (
        "torch.set_grad_enabled(False)",), lesson=course.lessons()[2]),
]


def _added(code: str):
    return nbformat.v4.new_code_cell(code, metadata={"tags": [TAG]})


def honest(*habits: Habit):
    """A correct submission of the habits' lesson with each habit in it, in order."""
    notebook = bank.submission(habits[0].lesson)
    cells = notebook.cells
    for habit in habits:
        at = len(cells) if habit.at == "end" else next(i for i, c in enumerate(cells) if course.is_export(c)) + 1
        cells[at:at] = [_added(code) for code in habit.cells]
        if habit.copy:
            kind = course.is_graded_test if habit.copy == "check" else course.is_answer
            index = next(i for i, c in enumerate(cells) if kind(c))
            cells.insert(index + 1, copy.deepcopy(cells[index]))  # metadata and id included, as Jupyter pastes it
    return notebook


# Habits graded together, a few to a notebook, as a student's notebook holds several: grading each notebook costs a
# kernel and seconds, and a habit that costs points costs them in its shared notebook too.
PER_NOTEBOOK = 6


def notebooks() -> dict[str, tuple[Habit, ...]]:
    """The honest notebooks by name: the habits of each lesson in order, PER_NOTEBOOK to a notebook."""
    found = {}
    for lesson in course.lessons():
        mine = [habit for habit in HABITS if habit.lesson == lesson]
        for start in range(0, len(mine), PER_NOTEBOOK):
            found[f"honest {lesson} {start // PER_NOTEBOOK + 1}"] = tuple(mine[start:start + PER_NOTEBOOK])
    return found
