"""Find what each student handed in, before anything runs: a notebook to grade, or a reason why not.

Expected: submitted/<student>/<lesson>/<lesson>.ipynb (what `nbgrader zip_collect` writes).
Every student x lesson gets exactly one outcome:

- a `Task` (grade this file), with notes: a lone notebook under another name is graded
  as if correctly named; graded cells deleted or untagged; extra files, never copied;
  lines that reach into the grader (flagged for review, not scored);
- a `Record` with status "missing" (no folder, no notebook, or several and none named
  right) or "invalid" (not a readable notebook): score 0, and the reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.records import Record
from ddpm_course.instructor.grading.repair import repair

# Words in a student's own lines that reach for the grader or beyond the notebook: its modules, the agent that
# answers the checker, torch's internals, introspection, the file system outside the notebook's folder, the
# network, code built from strings. Grading runs the notebook where none of it reaches an answer, and scores
# nothing on these words (but for a check's shortcut guard, checker.shortcut_bypass); they are what a human
# should read.
GRADER_WORDS = re.compile(r"\b(run_hidden|hidden|checking|checks|CheckFailure|sys\.modules|getsource|__wrapped__|"
                          r"builtins|importlib|gc\.get_objects|instructor|executor|agent|_getframe|f_back|f_globals|"
                          r"torch\._C|ctypes|socket|subprocess|urllib|requests|sqlite3|exec|eval|compile|"
                          r"__import__|base64|/proc|reference|solutions)\b")

# Files a submission folder may hold besides the notebook that mean nothing to grading.
HARMLESS = {"timestamp.txt", ".ipynb_checkpoints"}


@dataclass
class Task:
    """A notebook to autograde, and what triage noticed about it."""
    student: str
    lesson: str
    notebook: Path
    notes: list[str] = field(default_factory=list)


def max_score(lesson: str) -> float:
    return sum(course.points(lesson).values())


def graded_ids(notebook) -> list[str]:
    return [course.grade_id(c) for c in notebook.cells if course.is_graded_test(c)]


def touches_the_grader(notebook, lesson: str) -> list[str]:
    """Lines the student wrote that name the checking machinery or dig into modules: code that
    could patch a check into passing or print the hidden checks into its own feedback. Graded
    code runs next to the hidden checks, so this is flagged for a human, not scored."""
    released = {line.strip() for cell in course.release(lesson).cells
                for line in cell.source.split("\n")}
    return [line.strip() for cell in notebook.cells if cell.cell_type == "code"
            for line in cell.source.split("\n") if line.strip() not in released and GRADER_WORDS.search(line)]


def students(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "submitted").glob("*") if p.is_dir() and not p.name.startswith("."))


def lessons_submitted(root: Path) -> list[str]:
    """Lessons of the course that at least one student folder holds, in course order."""
    found = {p.name for p in (root / "submitted").glob("*/*") if p.is_dir()}
    return [lesson for lesson in course.lessons() if lesson in found]


def strays(root: Path, student: str) -> list[str]:
    """What a student's folder holds that is no lesson of the course (a misnamed upload?)."""
    return sorted(p.name for p in (root / "submitted" / student).iterdir()
                  if p.name not in course.lessons() and p.name not in HARMLESS)


def triage_one(root: Path, student: str, lesson: str) -> Task | Record:
    """What to do with one student's lesson: grade a notebook (with notes), or record why not."""
    folder = root / "submitted" / student / lesson
    expected = folder / f"{lesson}.ipynb"

    def record(status: str, reason: str) -> Record:
        return Record(student, lesson, status, 0, max_score(lesson), reason)

    if not folder.is_dir():
        found = strays(root, student)
        # no path of the grader's in a record: students read it in their feedback
        return record("missing", f"nothing handed in for {lesson}" + (f" (found: {', '.join(found)})" if found else ""))
    notes = []
    if expected.is_file():
        notebook = expected
    else:
        others = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
        if len(others) != 1:
            found = ", ".join(p.name for p in sorted(folder.iterdir())) or "an empty folder"
            return record("missing", f"no {lesson}.ipynb handed in (found: {found})")
        notebook = others[0]
        notes.append(f"submitted as '{notebook.name}', graded as {lesson}.ipynb")
    try:
        parsed = nbformat.read(notebook, as_version=4)
    except Exception as err:  # anything unreadable is the student's file, not a grader bug
        first = str(err).strip().split("\n")[0][:200]
        return record("invalid", f"{notebook.name} is not a readable notebook ({type(err).__name__}: {first})")
    lost = [gid for gid in graded_ids(course.release(lesson)) if gid not in graded_ids(parsed)]
    if lost:
        notes.append(f"graded cells deleted or retagged: {', '.join(lost)}")
    notes += repair(parsed)  # the worker mends the copy it grades alike
    suspicious = touches_the_grader(parsed, lesson)
    if suspicious:
        notes.append(f"review by hand: code that reaches into the grader ({suspicious[0][:80]})")
    extra = sorted(p.name for p in folder.iterdir() if p != notebook and p.name not in HARMLESS)
    if extra:
        notes.append(f"extra files not used for grading: {', '.join(extra)}")
    return Task(student, lesson, notebook, notes)


def triage(root: Path, lessons: list[str] | None = None) -> tuple[list[Task], list[Record]]:
    """Every student x lesson under root/submitted: tasks to grade, and records settled already.

    `lessons` defaults to every lesson that somebody submitted."""
    tasks, records = [], []
    for student in students(root):
        for lesson in lessons or lessons_submitted(root):
            outcome = triage_one(root, student, lesson)
            (tasks if isinstance(outcome, Task) else records).append(outcome)
    return tasks, records
