"""What the instructor reads after autograding a class: grades, reasons, and which exercises the class fails,
written from the records (autograded.py makes each).

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
