"""A course folder that grades one lesson anywhere, and holds no answer notebook: the grading side of
the Gradescope autograder (gradescope.py) and of GitHub Classroom's private grader (classroom.py).

It is this repository cut down to what `python -m ddpm_course.instructor.grading.grade` and the pytest grading
need for one lesson, laid out the same way, so the course's own grading runs in it unchanged:

- ddpm_course/: what the role table (roles.py) gives the `grader` audience of the lesson: the package
  up to the lesson, hidden checks and reference solutions included (the hidden checks compare with
  them), the grading/ package whole and what grading imports, but not the bug bank (bugs.py: its edits
  quote the answers; mutations.py), the other tooling, nor later lessons;
- solutions/<lesson>/<lesson>.ipynb: not the solution, but a *grading source*: the solution notebook
  with every solution region holding the release's stub instead of the answer. nbgrader reads its
  check cells, hidden tests included, into the gradebook and restores them in every submission;
  since nbgrader replaces solution regions with that same stub, it records exactly what the real
  source gives it, and grades identically;
- notebooks/<lesson>/<lesson>.ipynb: the release, which triage compares submissions with;
- nbgrader_config.py, pyproject.toml, requirements.txt, and a README saying what this is.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from ddpm_course.instructor import course, roles
from ddpm_course.instructor.grading.nbgrader_api import course_config
from ddpm_course.instructor.platforms.files import Files, write_tree

TOP_FILES = ("nbgrader_config.py", "pyproject.toml", "requirements.txt")
README = """# Grader of "DDPM from scratch", {lesson}

Written by `make gradescope` / `make github-classroom` from the course repository. This folder grades
{lesson} notebooks with the course's own grading, hidden checks included. It holds the hidden checks
and the reference solutions (`ddpm_course/*/reference.py`, the answers as code, which the hidden checks
compare with), so it must stay where students cannot read it. It holds no solution notebook:
`solutions/{lesson}/{lesson}.ipynb` is the grading source, the solution notebook with the stubs of the
release in place of the answers.

    pip install -r requirements.txt
    PYTHONPATH=$PWD python -m ddpm_course.instructor.grading.grade path/to/{lesson}.ipynb
    PYTHONPATH=$PWD python -m pytest -p ddpm_course.pytest_grading path/to/{lesson}.ipynb
"""


def code_stub() -> str:
    """What replaces each answer in the release (nbgrader_config.py's ClearSolutions.code_stub)."""
    return course_config().ClearSolutions.code_stub["python"]


def stubbed(source: str, stub: str) -> str:
    """A cell's source with each solution region holding the stub, indented as its BEGIN line, as
    nbgrader's ClearSolutions indents it; the region's delimiters stay, so nbgrader still finds it."""
    begin, end = (delimiter.removeprefix("### ") for delimiter in course.SOLUTION_DELIMITERS)
    lines, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            lines.append(line)
            lines += [re.match(r"\s*", line).group(0) + stub_line for stub_line in stub.split("\n")]
        elif end in line:
            inside = False
            lines.append(line)
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def grading_source(lesson: str) -> nbformat.NotebookNode:
    """The lesson's solution notebook with no answer in it: every solution region holds the release's stub."""
    notebook = copy.deepcopy(course.solution(lesson))
    stub = code_stub()
    for cell in notebook.cells:
        if course.is_answer(cell):
            if course.SOLUTION_DELIMITERS[0] not in cell.source:
                raise ValueError(f"{lesson}: answer cell {course.grade_id(cell)} has no solution region; "
                                 "nbgrader would replace it whole, and this grader cannot stub it")
            cell.source = stubbed(cell.source, stub)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None  # what a solution printed could show its answers
    return notebook


def contents(lesson: str) -> Files:
    """Path inside the grader folder -> file of the repository, or text."""
    found: Files = {p.relative_to(course.ROOT).as_posix(): p
                                    for p in roles.package_files(lesson, roles.GRADER)}
    found |= {name: course.ROOT / name for name in TOP_FILES}
    found[course.release_path(lesson).relative_to(course.ROOT).as_posix()] = course.release_path(lesson)
    found[course.solution_path(lesson).relative_to(course.ROOT).as_posix()] = nbformat.writes(grading_source(lesson))
    found["README.md"] = README.format(lesson=lesson)
    return found


def write(lesson: str, into: Path) -> Path:
    """Write the grader folder of `lesson` into the folder `into`; return it."""
    return write_tree(contents(lesson), into)
