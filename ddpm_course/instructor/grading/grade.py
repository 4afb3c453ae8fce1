"""Autograde submissions with nbgrader, hidden tests included.

    python -m ddpm_course.instructor.grading.grade NOTEBOOK.ipynb   # `make grade NB=...`: one notebook
    python -m ddpm_course.instructor.grading.grade --all            # `make autograde`: every submission
        [--jobs N] [--lesson NAME] [--timeout S] [--memory-mb M] [--root DIR]

`--all` grades submitted/<student>/<lesson>/<lesson>.ipynb in the course root with N parallel
workers (default: one per core) and writes the gradebook, autograded/, HTML feedback in
feedback/, grades.csv (with a status and reason per student and lesson) and reports/
(cells.csv, exercises.csv, exercises.png). Missing, unreadable or misnamed notebooks, and
notebooks that hang, exhaust memory or crash their kernel, each get a record of their own;
they never stop the batch. A single notebook is graded in a throwaway course folder, so it
never touches the instructor's gradebook; so are the batches of the routes that grade elsewhere
(`grade_apart`: the pytest grading and the Gradescope autograder), so every route scores alike.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import autograded, class_reports, triage, workers
from ddpm_course.instructor.grading.limits import limits_config
from ddpm_course.instructor.grading.nbgrader_api import make_api, quiet_gradebook, require_success
from ddpm_course.instructor.grading.records import Record


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def settle(root: Path, result: workers.Result) -> Record:
    """Merge a worker's result into the course root and turn it into the student's record, reading the
    autograded notebook once."""
    task = result.task
    if result.error:
        return autograded.error_record(task, result.error, result.seconds)
    scores = workers.merge(root, result)
    notebook = course.read(root / "autograded" / task.student / task.lesson / f"{task.lesson}.ipynb")
    return autograded.graded_record(task, scores, notebook, result.seconds)


def autograde(root: Path = course.ROOT, jobs: int | None = None, lessons: list[str] | None = None,
              timeout: int | None = None, memory_mb: int | None = None, feedback: bool = True,
              progress: Callable[[Record], None] = lambda record: None,
              write_reports: bool = True) -> list[Record]:
    """Grade every submission under root/submitted (only `lessons`, if given) with `jobs` workers;
    write the gradebook, autograded/, feedback/ and, with write_reports, grades.csv and reports/.
    Returns every record."""
    tasks, records = triage.triage(root, lessons)
    for record in records:
        progress(record)
    graded_lessons = [lesson for lesson in course.lessons() if lesson in {t.lesson for t in tasks}]
    # later lessons take longer (lesson 4 trains): started first, they leave no worker idle at the end
    tasks.sort(key=lambda task: -course.lessons().index(task.lesson))
    with tempfile.TemporaryDirectory(prefix="ddpm-grading-") as tmp:
        scratch = Path(tmp)
        template = scratch / "template"
        template.mkdir()
        fresh = not (root / "gradebook.db").exists()
        for course_root in (template,) if fresh else (template, root):
            # records each lesson's source cells, hidden tests included, that autograde restores
            api = make_api(course_root, scratch / "release")
            for lesson in graded_lessons:
                with quiet_gradebook():
                    require_success(api.generate_assignment(lesson, force=True), f"generate_assignment {lesson}")
        if fresh and graded_lessons:  # a new course (a throwaway one, say) starts as the template: a second per lesson
            shutil.copyfile(template / "gradebook.db", root / "gradebook.db")
        for result in workers.run(tasks, jobs or cores(), template / "gradebook.db", scratch / "workers",
                                  limits_config(timeout, memory_mb), feedback):
            records.append(settle(root, result))
            progress(records[-1])
    if feedback:
        for record in records:
            if record.status != "graded":
                class_reports.write_notice(root, record)
    if write_reports:
        class_reports.write_grades(root, records)
        class_reports.write_cells(root, records)
        class_reports.write_exercises(root, records)
    return records


def lesson_of(notebook: Path) -> str:
    """The lesson a notebook belongs to, from its file or folder name."""
    for name in (notebook.stem, notebook.parent.name):
        if name in course.lessons():
            return name
    raise SystemExit(f"cannot tell which lesson {notebook} is: name it after one of {course.lessons()}")


def grade_apart(submissions: list[tuple[str, Path]], jobs: int | None = None, timeout: int | None = None,
                memory_mb: int | None = None, keep: Path | None = None) -> list[Record]:
    """Autograde submissions in a throwaway course folder, never touching the instructor's gradebook,
    as one batch: the routes that grade elsewhere (`make grade`, pytest, Gradescope) all come here.
    Each submission is a lesson and either a notebook (graded as that lesson's, whatever its name)
    or a folder as the student handed it in (triage finds the notebook, or records why not).
    Returns a record per submission, in order; `keep`, a folder, gets the autograded notebooks
    (keep/submission<n>/<lesson>/<lesson>.ipynb)."""
    with tempfile.TemporaryDirectory(prefix="ddpm-grade-") as tmp:
        root = Path(tmp)
        for number, (lesson, path) in enumerate(submissions):
            folder = root / "submitted" / f"submission{number}" / lesson
            if path.is_dir():
                shutil.copytree(path, folder, symlinks=True)
            else:
                folder.mkdir(parents=True)
                shutil.copyfile(path, folder / f"{lesson}.ipynb")
        lessons = [lesson for lesson in course.lessons() if lesson in {lesson for lesson, _ in submissions}]
        # the folder goes with its reports: only the records are wanted (the chart alone takes a second)
        records = autograde(root, min(jobs or cores(), len(submissions)), lessons, timeout, memory_mb, feedback=False,
                            write_reports=False)
        if keep is not None and (root / "autograded").is_dir():
            shutil.copytree(root / "autograded", keep, dirs_exist_ok=True)
    # triage also records every lesson a submission was not for, as missing: leave those out
    found = {(record.student, record.lesson): record for record in records}
    return [found[(f"submission{number}", lesson)] for number, (lesson, _) in enumerate(submissions)]


def grade_one(notebook: Path, timeout: int | None = None, memory_mb: int | None = None) -> Record:
    """Autograde one notebook in a throwaway course folder: `make grade`."""
    return grade_apart([(lesson_of(notebook), notebook)], 1, timeout, memory_mb)[0]


def report(record: Record) -> str:
    """One line per graded cell, then the score: what `make grade` prints."""
    lines = [f"{'PASS' if g.score == g.max_score else 'FAIL'} {g.grade_id} {g.score:g}/{g.max_score:g}"
             + (f"  {g.message}" if g.message else "") for g in record.cells]
    if record.status != "graded":
        lines.append(f"{record.status.upper()}  {record.reason}")
    lines.append(f"score: {record.score:g} / {record.max_score:g}")
    return "\n".join(lines)


def summary_line(record: Record) -> str:
    took = f" in {record.seconds:.0f} s" if record.seconds else ""
    return (f"{record.student} {record.lesson}: {record.score:g} / {record.max_score:g}  {record.status}{took}"
            + (f"  ({record.reason})" if record.reason else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", nargs="?", type=Path, help="one student notebook to grade")
    parser.add_argument("--all", action="store_true", help="grade every submission under submitted/")
    parser.add_argument("--jobs", type=int, default=None, help=f"parallel workers (default: cores, {cores()})")
    parser.add_argument("--lesson", action="append", choices=course.lessons(), help="only this lesson (repeatable)")
    parser.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py)")
    parser.add_argument("--memory-mb", type=int, help="address space per kernel in MiB, 0 for none "
                                                      "(default: nbgrader_config.py)")
    parser.add_argument("--root", type=Path, default=course.ROOT, help="course folder (default: this repository)")
    args = parser.parse_args()
    if args.all:
        start = time.perf_counter()
        records = autograde(args.root.resolve(), args.jobs, args.lesson, args.timeout, args.memory_mb,
                            progress=lambda record: print(summary_line(record), flush=True))
        counts = {s: sum(r.status == s for r in records) for s in ("graded", "missing", "invalid", "error")}
        print(f"{len(records)} submissions ({', '.join(f'{n} {s}' for s, n in counts.items())}) in "
              f"{time.perf_counter() - start:.0f} s: grades.csv, feedback/, reports/exercises.png")
    elif args.notebook:
        if not args.notebook.is_file():
            sys.exit(f"no such notebook: {args.notebook}")
        print(report(grade_one(args.notebook.resolve(), args.timeout, args.memory_mb)))
    else:
        parser.error("give a notebook, or --all")


if __name__ == "__main__":
    main()
