"""What the instructor reads after autograding: grades, reasons, and which exercises the class fails.

- grades.csv: one row per student x lesson: student, lesson, score, max_score, status, reason
- reports/cells.csv: one row per student x graded cell, with the failure message
- reports/exercises.csv and exercises.png: pass rate of every graded cell, worst first
- feedback/<student>/<lesson>/<lesson>.html for submissions nbgrader never saw (missing,
  invalid, grader error): a page that says why there is no score.
"""
from __future__ import annotations

import csv
import html
from collections import defaultdict
from pathlib import Path

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.records import CellGrade, Record

# How nbgrader and Python name what the grading limits stopped.
CAUSES = {"CellTimeoutError": "ran past the time limit (an infinite loop?)",
          "MemoryError": "ran out of memory (over the memory limit)",
          "DeadKernelError": "the kernel died here (a crash, os._exit, or killed by the system)",
          "OutputTimeout": "its output came too late (too much output?)"}


# What a graded cell says when the notebook changed what grading relies on (integrity.py).
INTEGRITY = "GradingIntegrityError"


def first_line(text: str, width: int = 160) -> str:
    line = text.strip().split("\n")[0] if text.strip() else ""
    return line if len(line) <= width else line[:width - 3] + "..."


def cause(output) -> str | None:
    """What a grading limit stopped, from an error output; None for an ordinary error."""
    if "can't allocate memory" in output.get("evalue", ""):
        return CAUSES["MemoryError"]
    return CAUSES.get(output.get("ename"))


def failure_outputs(notebook: Path) -> dict[str, str]:
    """The error shown under each graded cell of an autograded notebook, whole (a CheckFailure's
    message and hint, as the student sees it); where a limit stopped the cell (a timeout also
    leaves a KeyboardInterrupt), what stopped it."""
    outputs = {}
    for cell in course.read(notebook).cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and course.grade_id(cell):
            error = next((o for o in errors if cause(o)), errors[0])
            outputs[course.grade_id(cell)] = f"{error['ename']}: {cause(error) or error['evalue']}".strip()
    return outputs


def failure_messages(notebook: Path) -> dict[str, str]:
    """The first line of each failed graded cell's error (see failure_outputs), for tables."""
    return {gid: first_line(text, 10_000) for gid, text in failure_outputs(notebook).items()}


def what_went_wrong(notebook: Path) -> list[str]:
    """For the reason column: what the integrity guard found, if anything, then in notebook order every
    cell a limit stopped (a timeout, memory, a dead kernel), and the first two errors the student's own
    cells raised (not the checks': their failures are listed by name); the errors after those are
    usually their consequences."""
    found, raised, tampered = [], 0, False
    for index, cell in enumerate(course.read(notebook).cells):
        # an untouched stub or a cell skipped after a crash is said by "failed: ..." already
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"
                  and o["ename"] not in ("NotRun", "NotImplementedError")]
        causes = [cause(o) for o in errors if cause(o)]
        where = course.grade_id(cell) or f"cell {index + 1}"
        integrity = [o for o in errors if o["ename"] == INTEGRITY]
        if integrity and not tampered:  # said once: every graded cell after it says the same
            tampered = True
            # first: it explains every failure after it
            found.insert(0, f"{INTEGRITY} from {where}: {first_line(integrity[0]['evalue'], 400)}")
        elif causes:
            found.append(f"{where}: {causes[0]}")
        elif errors and not course.is_graded_test(cell) and raised < 2:
            raised += 1
            found.append(f"{where} raised {first_line(errors[0]['ename'] + ': ' + errors[0]['evalue'], 100)}")
    return found


def reason(cells: list[CellGrade], notes: list[str], errors: list[str]) -> str:
    """One line for the instructor: what stopped the student's code, the failed checks, and
    what triage noticed."""
    failed = [g.grade_id for g in cells if g.score < g.max_score]
    return "; ".join(errors + ([f"failed: {', '.join(failed)}"] if failed else []) + notes)


def write_grades(root: Path, records: list[Record]) -> Path:
    path = root / "grades.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lesson", "score", "max_score", "status", "reason"])
        for r in sorted(records, key=lambda r: (r.student, course.lessons().index(r.lesson))):
            writer.writerow([r.student, r.lesson, f"{r.score:g}", f"{r.max_score:g}", r.status, r.reason])
    return path


def write_cells(root: Path, records: list[Record]) -> Path:
    path = root / "reports" / "cells.csv"
    path.parent.mkdir(exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lesson", "grade_id", "score", "max_score", "message"])
        for r in records:
            for g in r.cells:
                writer.writerow([r.student, r.lesson, g.grade_id, f"{g.score:g}", f"{g.max_score:g}", g.message])
    return path


def exercise_rates(records: list[Record]) -> list[dict]:
    """Pass rate of every graded cell over the graded submissions, lowest first."""
    tally: dict[tuple[str, str], list[CellGrade]] = defaultdict(list)
    for r in records:
        for g in r.cells:
            tally[(r.lesson, g.grade_id)].append(g)
    rows = [{"lesson": lesson, "grade_id": gid, "points": grades[0].max_score, "graded": len(grades),
             "passed": sum(g.score == g.max_score for g in grades),
             "pass_rate": round(sum(g.score == g.max_score for g in grades) / len(grades), 3),
             "mean_score": round(sum(g.score for g in grades) / len(grades), 3)}
            for (lesson, gid), grades in tally.items()]
    return sorted(rows, key=lambda row: (row["pass_rate"], course.lessons().index(row["lesson"])))


def write_exercises(root: Path, records: list[Record]) -> list[Path]:
    """exercises.csv and a bar chart of pass rates, the exercises the class fails most on top."""
    rows = exercise_rates(records)
    out = root / "reports"
    out.mkdir(exist_ok=True)
    with open(out / "exercises.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["lesson", "grade_id", "points", "graded", "passed",
                                               "pass_rate", "mean_score"])
        writer.writeheader()
        writer.writerows(rows)
    if not rows:
        return [out / "exercises.csv"]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    labels = [f"{row['lesson']}: {row['grade_id']}" for row in rows][::-1]
    rates = [100 * row["pass_rate"] for row in rows][::-1]
    ax.barh(labels, rates, color=["#c0392b" if rate < 50 else "#2e86c1" for rate in rates])
    for y, row in enumerate(rows[::-1]):
        ax.text(100 * row["pass_rate"] + 1, y, f"{row['passed']}/{row['graded']}", va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("% of graded submissions passing")
    ax.set_title("Exercises, hardest on top")
    fig.tight_layout()
    fig.savefig(out / "exercises.png", dpi=100)
    plt.close(fig)
    return [out / "exercises.csv", out / "exercises.png"]


def write_notice(root: Path, record: Record) -> Path:
    """A feedback page for a submission that could not be graded, saying why."""
    path = root / "feedback" / record.student / record.lesson / f"{record.lesson}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{record.lesson}</title></head>"
                    f"<body><h1>{record.lesson}: {record.score:g} / {record.max_score:g}</h1>"
                    f"<p>Your submission could not be graded ({record.status}).</p>"
                    f"<p>{html.escape(record.reason)}</p>"
                    f"<p>Hand in <code>{record.lesson}.ipynb</code>, saved from Jupyter, and ask your "
                    f"instructor to grade it again.</p></body></html>\n")
    return path
