"""The nbgrader round trip: does autograding score what the bug bank predicts, and keep hidden checks hidden?

One module-scoped autograde run grades every fake student; the tests only read its outputs.
"""
from __future__ import annotations

import csv
import html.parser
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ddpm_course.instructor import bank, course, grade

LESSONS = course.lessons()
KINDS = ("correct", "buggy", "untouched")


def points(lesson: str) -> dict[str, float]:
    """Points of each graded cell of a lesson."""
    return {course.grade_id(c): c.metadata["nbgrader"]["points"]
            for c in course.read(course.solution_path(lesson)).cells if course.is_graded_test(c)}


def first_bug(lesson: str) -> bank.Bug:
    return bank.bank(lesson).BUGS[0]


def expected_score(lesson: str, kind: str) -> float:
    pts = points(lesson)
    if kind == "correct":
        return sum(pts.values())
    if kind == "buggy":
        bug = first_bug(lesson)
        return sum(pts.values()) - sum(pts[gid] for gid in {bug.fails, *bug.also_fails})
    return 0


def notebook_of(lesson: str, kind: str):
    if kind == "correct":
        return bank.submission(lesson)
    if kind == "buggy":
        return bank.submission(lesson, first_bug(lesson))
    return course.read(course.release_path(lesson))


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(path: Path) -> str:
    """What a reader sees in an HTML page: tags dropped (syntax highlighting splits code
    into spans), entities unescaped."""
    parser = _Text()
    parser.feed(path.read_text())
    return "".join(parser.parts)


def hidden_lines(lesson: str, shown: str) -> list[str]:
    """Distinctive source lines of the lesson's hidden checks that the student's own
    notebook does not happen to contain."""
    lines = {line.strip() for line in (course.PACKAGE / lesson / "hidden.py").read_text().split("\n")}
    return sorted(line for line in lines if len(line) >= 20 and line not in shown)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A course root with one correct, one buggy and one untouched notebook per lesson, autograded."""
    root = tmp_path_factory.mktemp("course")
    for lesson in LESSONS:
        for kind in KINDS:
            path = root / "submitted" / kind / lesson / f"{lesson}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(notebook_of(lesson, kind), path)
    grade.autograde(root)
    return root


@pytest.fixture(scope="module")
def grades_csv(graded) -> dict[tuple[str, str], dict]:
    with open(graded / "grades.csv", newline="") as f:
        return {(row["student"], row["lesson"]): row for row in csv.DictReader(f)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lesson", LESSONS)
def test_autograde_scores_match_the_bank(lesson, kind, grades_csv):
    """Does grades.csv give full marks to the solution, lose exactly the broken checks' points
    for the first known bug, and give 0 to the untouched release?"""
    row = grades_csv[(kind, lesson)]
    assert float(row["max_score"]) == sum(points(lesson).values())
    assert float(row["score"]) == expected_score(lesson, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lesson", LESSONS)
def test_feedback_shows_failures_but_no_hidden_code(lesson, kind, graded):
    """Does the feedback page exist, name the failure, and hide every hidden-test line and call?"""
    text = html_text(graded / "feedback" / kind / lesson / f"{lesson}.html")
    assert "BEGIN HIDDEN TESTS" not in text and "run_hidden(" not in text
    shown = course.read(graded / "submitted" / kind / lesson / f"{lesson}.ipynb")
    leaked = [line for line in hidden_lines(lesson, nbformat.writes(shown)) if line in text]
    assert leaked == []
    if kind == "buggy":
        assert first_bug(lesson).says in text
    if kind == "untouched":
        assert "not implemented yet" in text


def test_make_grade_prints_one_line_per_check_and_the_score():
    """Does `make grade NB=<lesson 1 release>` print PASS/FAIL per graded cell and end with `score: 0 / 10`?"""
    result = subprocess.run([sys.executable, "-m", "ddpm_course.instructor.grade",
                             "notebooks/l1_blocks/l1_blocks.ipynb"],
                            cwd=course.ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().split("\n")
    assert lines[-1] == "score: 0 / 10"
    assert [line.split()[1] for line in lines[:-1]] == list(points("l1_blocks"))
    for line, (gid, pts) in zip(lines, points("l1_blocks").items()):
        assert line.startswith(f"FAIL {gid} 0/{pts:g}  ") and "not implemented yet" in line, line
