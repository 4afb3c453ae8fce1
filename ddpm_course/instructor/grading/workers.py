"""Autograde many notebooks at once, each worker in a private nbgrader course of its own.

nbgrader grades one notebook at a time and keeps its gradebook in SQLite, which takes one
writer at a time. So each worker process gets its own course folder (its own gradebook,
autograded/ and feedback/), copied from a template that already knows the lessons; it
grades a notebook there and returns the grades. The main process merges each result into
the instructor's gradebook and folders serially, as results arrive: parallel executions,
serial database writes.

A worker copies only the notebook into its course, never other files of the submission
folder: nbgrader would copy them next to the notebook, where the kernel (whose cwd and
sys.path[0] that folder is) would import a student's `ddpm_course/` or `checks.py` instead
of the course's.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

import nbformat
from traitlets.config import Config

from ddpm_course.instructor.grading.nbgrader_api import gradebook, make_api, quiet_gradebook
from ddpm_course.instructor.grading.records import CellGrade
from ddpm_course.instructor.grading.repair import repair
from ddpm_course.instructor.grading.triage import Task


@dataclass
class Result:
    """What one worker learnt about one notebook; `error` is set when nbgrader gave up on it."""
    task: Task
    grades: list[CellGrade] = field(default_factory=list)  # the automatic scores, no messages yet
    comments: dict[str, str | None] = field(default_factory=dict)
    timestamp: datetime | None = None
    autograded: Path | None = None
    feedback: Path | None = None
    error: str = ""
    seconds: float = 0.0


# The last line of a traceback: "package.module.SomeError: message".
_TRACEBACK_END = re.compile(r"^\s*(?:\w+\.)*(\w+(?:Error|Exception|Interrupt)): (.*)$")

_worker: dict = {}  # this process's course folder and nbgrader API


def start_worker(template: Path, scratch: Path, config: Config, feedback: bool) -> None:
    """Give this process a course folder of its own, with a copy of the template gradebook."""
    root = Path(scratch) / f"worker-{os.getpid()}"
    root.mkdir(parents=True)
    shutil.copy(template, root / "gradebook.db")
    api = make_api(root, root / "release")
    api.update_config(config)
    _worker.update(root=root, api=api, feedback=feedback)


def nbgrader_error(result: dict) -> str:
    """The exception that made nbgrader give up on a notebook (e.g. `DeadKernelError: Kernel died`),
    from the tracebacks in its log, rather than its closing "see the above traceback"."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    ends = [f"{m.group(1)}: {m.group(2)}" for m in map(_TRACEBACK_END.match, text.split("\n"))
            if m and m.group(1) != "NbGraderException"]
    errors = [line for line in text.split("\n") if line.startswith("[ERROR]")]
    return (ends or errors or ["unknown error"])[-1][:300]


def grade(task: Task) -> Result:
    """Autograde one notebook in this worker's course folder."""
    root, api = _worker["root"], _worker["api"]
    folder = root / "submitted" / task.student / task.lesson
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    notebook = nbformat.read(task.notebook, as_version=4)
    repair(notebook)  # what honest copying and pasting does to metadata, mended as triage noted
    nbformat.write(notebook, folder / f"{task.lesson}.ipynb")
    stamp = task.notebook.parent / "timestamp.txt"
    if stamp.is_file():
        shutil.copyfile(stamp, folder / "timestamp.txt")
    start = time.perf_counter()
    with quiet_gradebook():
        outcome = api.autograde(task.lesson, task.student, force=True)
        if outcome.get("success") and _worker["feedback"]:
            api.generate_feedback(task.lesson, task.student, force=True)
    if not outcome.get("success"):
        return Result(task, error=nbgrader_error(outcome), seconds=time.perf_counter() - start)
    with gradebook(root) as book:
        notebook = book.find_submission_notebook(task.lesson, task.lesson, task.student)
        grades = [CellGrade(g.name, g.auto_score, g.max_score) for g in notebook.grades]
        comments = {c.name: c.auto_comment for c in notebook.comments}
        timestamp = notebook.assignment.timestamp
    return Result(task, grades, comments, timestamp, root / "autograded" / task.student / task.lesson,
                  root / "feedback" / task.student / task.lesson, seconds=time.perf_counter() - start)


def _context():
    """A fresh process per worker, that imports nbgrader once for all of them where it can.
    Never plain fork: the caller may be a multi-threaded process (torch, pytest)."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods and sys.platform != "darwin":
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def run(tasks: list[Task], jobs: int, template: Path, scratch: Path, config: Config,
        feedback: bool = True) -> Iterator[Result]:
    """Grade every task with `jobs` workers; yield each result as soon as it is done.
    jobs=1 grades in this process, one notebook after another."""
    if not tasks:  # nothing readable was handed in: no lesson was generated, so there is no template
        return
    if jobs <= 1 or len(tasks) <= 1:
        start_worker(template, scratch, config, feedback)
        for task in tasks:
            yield grade_safely(task)
        return
    setup = {"initializer": start_worker, "initargs": (template, scratch, config, feedback), "mp_context": _context()}
    stranded = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), **setup) as pool:
        futures = {pool.submit(grade_safely, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                stranded.append(futures[future])
    # A worker process that died (killed by the system, say) breaks the whole pool: grade what
    # it stranded again, each notebook in a pool of its own, so it can only take itself down.
    for task in stranded:
        with ProcessPoolExecutor(max_workers=1, **setup) as pool:
            try:
                yield pool.submit(grade_safely, task).result()
            except BrokenProcessPool as err:
                yield Result(task, error=f"the grading worker died: {err}")


def grade_safely(task: Task) -> Result:
    """grade(), with any failure of the grading machinery turned into that notebook's error."""
    try:
        return grade(task)
    except Exception as err:
        return Result(task, error=f"grading failed: {type(err).__name__}: {err}")


def merge(root: Path, result: Result) -> list[CellGrade]:
    """Write one worker's result into the instructor's gradebook, autograded/ and feedback/,
    as nbgrader's SaveAutoGrades would have; return each graded cell's score as the gradebook now
    has it (a grade the instructor set by hand wins over the automatic one)."""
    task = result.task
    with gradebook(root) as book:
        book.update_or_create_student(task.student)
        book.update_or_create_submission(task.lesson, task.student, timestamp=result.timestamp)
        for cell in result.grades:
            grade_ = book.find_grade(cell.grade_id, task.lesson, task.lesson, task.student)
            grade_.auto_score = cell.score
            grade_.needs_manual_grade = grade_.manual_score is not None or cell.score is None
        for name, text in result.comments.items():
            book.find_comment(name, task.lesson, task.lesson, task.student).auto_comment = text
        book.db.commit()
        notebook = book.find_submission_notebook(task.lesson, task.lesson, task.student)
        scores = [CellGrade(g.name, g.score, g.max_score) for g in notebook.grades]
    for kind, source in (("autograded", result.autograded), ("feedback", result.feedback)):
        target = root / kind / task.student / task.lesson
        shutil.rmtree(target, ignore_errors=True)
        if source is not None and source.is_dir():
            shutil.copytree(source, target)
    return scores
