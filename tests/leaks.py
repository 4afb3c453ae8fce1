"""Leak checks shared by what students get (the student bundle, the GitHub Classroom template): which lines of
a hidden check, or of an answer, does a set of files show?"""
from __future__ import annotations

from pathlib import Path

from ddpm_course.instructor import course, roles

LESSONS = course.lessons()


def lines_of(paths) -> set[str]:
    return {line.strip() for path in paths for line in Path(path).read_text().split("\n")}


def shown_lines(content: dict[str, str]) -> set[str]:
    """Every line of the files' texts, stripped."""
    return {line.strip() for text in content.values() for line in text.split("\n")}


def public_modules() -> list[Path]:
    """Package files that are public by design: every module students get, reference solutions aside.
    A line they share with a hidden check or an answer is no leak."""
    return [p for p in roles.package_files(LESSONS[-1], roles.STUDENT) if p.name != "reference.py"]


def hidden_leaks(content: dict[str, str]) -> list[str]:
    """Distinctive lines (20+ characters) of the hidden checks, found nowhere public, that the files show."""
    public = public_modules() + [course.release_path(name) for name in LESSONS]
    public += [p for p in course.PACKAGE.glob("*/reference.py")]
    hidden = lines_of(course.PACKAGE.glob("*/hidden.py")) - lines_of(public)
    return sorted(line for line in hidden & shown_lines(content) if len(line) >= 20)


def answer_leaks(content: dict[str, str], lesson: str) -> list[str]:
    """Lines of the solutions of `lesson` and later lessons (see course.solution_only_lines) that the files show,
    but for those of public modules and of earlier lessons' references, which students may have."""
    allowed = lines_of(public_modules()) | lines_of(course.reference_path(n) for n in course.lessons_before(lesson))
    answers = set().union(*(course.solution_only_lines(name) for name in course.lessons_from(lesson))) - allowed
    return sorted(answers & shown_lines(content))
