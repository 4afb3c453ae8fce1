"""Where the course's files are, and the lessons in order.

solutions/<lesson>/<lesson>.ipynb is the single source of truth; everything else is generated
from it (see authoring/). What each kind of notebook cell is comes from ddpm_course/cells.py, which
the students' tools share; the tooling reads it here, beside the notebooks it applies to.
"""
from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import nbformat

from ddpm_course.cells import check_cells, grade_id, is_answer, is_export, is_graded_test  # noqa: F401 (read here)

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "notebooks"
PACKAGE = ROOT / "ddpm_course"
PYPROJECT = ROOT / "pyproject.toml"
SOLUTION_DELIMITERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_DELIMITERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
# The course order, declared here once: each lesson has solutions/<name>/<name>.ipynb and ddpm_course/<name>/.
LESSONS = ("l1_blocks", "l2_unet", "l3_diffusion", "l4_training", "l5_guidance")


def lessons() -> list[str]:
    """Lesson names in course order."""
    return list(LESSONS)


def lessons_up_to(lesson: str) -> list[str]:
    """The lessons before `lesson`, and `lesson` itself."""
    return list(LESSONS[:LESSONS.index(lesson) + 1])


def lessons_before(lesson: str) -> list[str]:
    return list(LESSONS[:LESSONS.index(lesson)])


def lessons_from(lesson: str) -> list[str]:
    """`lesson` and the lessons after it."""
    return list(LESSONS[LESSONS.index(lesson):])


def solution_path(lesson: str) -> Path:
    return SOLUTIONS / lesson / f"{lesson}.ipynb"


def release_path(lesson: str, release_dir: Path = RELEASE) -> Path:
    return release_dir / lesson / f"{lesson}.ipynb"


def reference_path(lesson: str) -> Path:
    return PACKAGE / lesson / "reference.py"


def pyproject() -> dict:
    """pyproject.toml, parsed: the package's metadata, and the course's settings under [tool.ddpm-course]."""
    return tomllib.loads(PYPROJECT.read_text())


def student_package_version(lesson: str) -> str:
    """The version of the lesson's student package (`make student-package`): the project's, with the lesson as
    its local label, `0.1.0+l2unet` (PEP 440 allows no `_` there)."""
    return f"{pyproject()['project']['version']}+{lesson.replace('_', '')}"


def student_package_wheel(lesson: str) -> str:
    """The file name of the lesson's student package: what a graded class's Colab setup cell installs (colab.py)
    is what platforms/student_package.py writes."""
    return f"ddpm_course-{student_package_version(lesson)}-py3-none-any.whl"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


@functools.cache
def solution(lesson: str) -> nbformat.NotebookNode:
    """The lesson's solution notebook, parsed once per process (nbformat's validation costs more than a whole
    lesson's checks). Shared: copy it before changing it."""
    return read(solution_path(lesson))


@functools.cache
def release(lesson: str) -> nbformat.NotebookNode:
    """The lesson's released notebook, parsed once per process, as `solution`."""
    return read(release_path(lesson))


def points(lesson: str) -> dict[str, float]:
    """Points of each graded cell of a lesson, in notebook order."""
    return {check.grade_id: check.points for check in check_cells(solution(lesson))}


def strip_solution_markers(source: str) -> str:
    return "\n".join(line for line in source.split("\n") if line.strip() not in SOLUTION_DELIMITERS)


def solution_only_lines(lesson: str) -> set[str]:
    """Distinctive lines (20+ characters) that occur only inside solution regions of the
    lesson's source notebook: text that must never reach students."""
    inside, outside = set(), set()
    for cell in solution(lesson).cells:
        in_solution = False
        for line in cell.source.split("\n"):
            if line.strip() in SOLUTION_DELIMITERS:
                in_solution = line.strip() == SOLUTION_DELIMITERS[0]
            elif len(line.strip()) >= 20:
                (inside if in_solution else outside).add(line.strip())
    return inside - outside
