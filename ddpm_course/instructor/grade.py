"""Autograde submissions with nbgrader, hidden tests included.

    python -m ddpm_course.instructor.grade NOTEBOOK.ipynb   # `make grade NB=...`: one notebook
    python -m ddpm_course.instructor.grade --all            # `make autograde`: every submission

`--all` grades submitted/<student>/<lesson>/<lesson>.ipynb in the course root, writes the
gradebook, autograded/, HTML feedback in feedback/ and grades.csv. A single notebook is
graded in a throwaway course folder, so it never touches the instructor's gradebook.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

from ddpm_course.instructor import course
from ddpm_course.instructor.nbgrader_api import check, make_api


@dataclass
class CellGrade:
    grade_id: str
    score: float
    max_score: float
    message: str


def submissions(root: Path) -> list[tuple[str, str]]:
    """(student, lesson) pairs found under root/submitted."""
    return sorted((p.parent.parent.name, p.parent.name) for p in (root / "submitted").glob("*/*/*.ipynb")
                  if p.stem == p.parent.name and p.parent.name in course.lessons())


def failure_messages(notebook: Path) -> dict[str, str]:
    """First line of the error shown under each graded cell of an autograded notebook."""
    messages = {}
    for cell in course.read(notebook).cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and course.grade_id(cell):
                messages[course.grade_id(cell)] = f"{output['ename']}: {output['evalue']}".split("\n")[0]
    return messages


def cell_grades(root: Path, student: str, lesson: str) -> list[CellGrade]:
    """Per graded cell results of one autograded submission, in notebook order."""
    messages = failure_messages(root / "autograded" / student / lesson / f"{lesson}.ipynb")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(lesson, lesson, student)
        grades = {g.name: CellGrade(g.name, g.score, g.max_score, messages.get(g.name, ""))
                  for g in notebook.grades}
    order = [course.grade_id(c) for c in course.read(course.solution_path(lesson)).cells]
    return [grades[gid] for gid in order if gid in grades]


def autograde(root: Path, feedback: bool = True) -> dict[tuple[str, str], list[CellGrade]]:
    """Grade every submission under root/submitted; write feedback/ and grades.csv."""
    pairs = submissions(root)
    lessons = sorted({lesson for _, lesson in pairs})
    with tempfile.TemporaryDirectory() as tmp:
        api = make_api(root, Path(tmp) / "release")
        for lesson in lessons:
            # records the source cells, hidden tests included, that autograde restores
            check(api.generate_assignment(lesson, force=True), f"generate_assignment {lesson}")
        for student, lesson in pairs:
            check(api.autograde(lesson, student, force=True), f"autograde {lesson} for {student}")
        if feedback:
            for lesson in lessons:
                check(api.generate_feedback(lesson, force=True), f"generate_feedback {lesson}")
    results = {pair: cell_grades(root, *pair) for pair in pairs}
    with open(root / "grades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lesson", "score", "max_score"])
        for (student, lesson), grades in results.items():
            writer.writerow([student, lesson, sum(g.score for g in grades), sum(g.max_score for g in grades)])
    return results


def lesson_of(notebook: Path) -> str:
    """The lesson a notebook belongs to, from its file or folder name."""
    for name in (notebook.stem, notebook.parent.name):
        if name in course.lessons():
            return name
    raise SystemExit(f"cannot tell which lesson {notebook} is: name it after one of {course.lessons()}")


def grade_one(notebook: Path) -> list[CellGrade]:
    """Autograde one notebook in a throwaway course folder."""
    lesson = lesson_of(notebook)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = root / "submitted" / "student" / lesson / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copy(notebook, target)
        return autograde(root, feedback=False)[("student", lesson)]


def report(grades: list[CellGrade]) -> str:
    lines = [f"{'PASS' if g.score == g.max_score else 'FAIL'} {g.grade_id} {g.score:g}/{g.max_score:g}"
             + (f"  {g.message}" if g.message else "") for g in grades]
    lines.append(f"score: {sum(g.score for g in grades):g} / {sum(g.max_score for g in grades):g}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", nargs="?", type=Path, help="one student notebook to grade")
    parser.add_argument("--all", action="store_true", help="grade every submission under submitted/")
    args = parser.parse_args()
    if args.all:
        results = autograde(course.ROOT)
        for (student, lesson), grades in results.items():
            print(f"{student} {lesson}: {sum(g.score for g in grades):g} / {sum(g.max_score for g in grades):g}")
        print(f"graded {len(results)} submissions: grades.csv, feedback/")
    elif args.notebook:
        if not args.notebook.is_file():
            sys.exit(f"no such notebook: {args.notebook}")
        print(report(grade_one(args.notebook.resolve())))
    else:
        parser.error("give a notebook, or --all")


if __name__ == "__main__":
    main()
