"""Who may see each file of the package: the one table of the roles its files play.

A lesson's folder ddpm_course/<lesson>/ holds files of the roles in LESSON_ROLES; the package's own
modules are in PACKAGE_ROLES. Each role says, for each audience, a rule relative to the target lesson L:

- UP_TO: the files of L and of every lesson before it (for a package module: always);
- BEFORE: the files of the lessons before L only (a lesson's own answers stay out; later ones build on them);
- NEVER.

The audiences:
- STUDENT: the student bundle of lesson L, and what a student may install (`make student-bundle`);
- EXECUTOR: what may run beside a graded notebook of lesson L: what students get minus anything that
  computes an answer;
- GRADER: the grader folder of lesson L (Gradescope, GitHub Classroom's private grader).

The student bundle, the student package, the grader folder, the executor tree that grading runs a notebook
on, and the tests of the layout all read this table; nothing else lists lesson files. A file no role matches
belongs to no audience: it stays out of everything until it gets a role here (`make test` asks for one).
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from ddpm_course.instructor import course

UP_TO, BEFORE, NEVER = "up to L", "before L", "never"
STUDENT, EXECUTOR, GRADER = "student", "executor", "grader"
AUDIENCES = (STUDENT, EXECUTOR, GRADER)


@dataclass(frozen=True)
class Role:
    """Files matching `pattern` (a name in a lesson's folder, or a path in the package; `*` globs), and
    the rule of each audience for them. `required`: every lesson must have it (lesson roles only)."""
    pattern: str
    student: str
    executor: str
    grader: str
    why: str
    required: bool = False

    def rule(self, audience: str) -> str:
        return getattr(self, audience)


LESSON_ROLES = (
    Role("__init__.py", UP_TO, UP_TO, UP_TO, "makes the lesson a package; its docstring's `You build:` line is "
         "the lesson's row of the README's lesson table", required=True),
    Role("checks.py", UP_TO, UP_TO, UP_TO, "the visible checks the notebook calls", required=True),
    Role("checks_*.py", UP_TO, UP_TO, UP_TO, "visible checks split by topic, re-exported by checks.py"),
    Role("fakes.py", UP_TO, UP_TO, UP_TO, "stand-ins that compute no answer (fake networks, fake blocks, made-up "
         "maps with an exercise's interface): grading builds them beside the student's code (checking.Fake)"),
    Role("closed_forms.py", UP_TO, NEVER, UP_TO, "expected values in float64, and what known mistakes "
         "compute: answers, so never beside a graded notebook"),
    Role("reference.py", BEFORE, BEFORE, UP_TO, "the reference solutions (generated): later lessons import "
         "earlier ones; the hidden checks compare with the lesson's own", required=True),
    Role("hidden.py", NEVER, NEVER, UP_TO, "the hidden checks: only where the instructor grades", required=True),
    Role("bugs.py", NEVER, NEVER, NEVER, "the bug bank: its edits quote the answers", required=True),
)

PACKAGE_ROLES = (
    Role("__init__.py", UP_TO, UP_TO, UP_TO, "makes ddpm_course a package"),
    Role("checking.py", UP_TO, UP_TO, UP_TO, "the check framework"),
    Role("layer_checks.py", UP_TO, UP_TO, UP_TO, "the check framework for layer configuration"),
    Role("data.py", UP_TO, UP_TO, UP_TO, "Fashion-MNIST loading, which lesson 4's notebook calls"),
    Role("plotting.py", UP_TO, UP_TO, UP_TO, "image grids, which the notebooks call"),
    Role("cells.py", UP_TO, NEVER, UP_TO, "what each notebook cell is, for the students' and the grader's tools"),
    Role("grading_kernel.py", UP_TO, NEVER, UP_TO, "how graded notebooks run (environment, time limit), for "
         "the students' and the grader's tools"),
    Role("progress.py", UP_TO, NEVER, UP_TO, "the students' table of visible checks (`make progress`)"),
    Role("pytest_grading.py", UP_TO, NEVER, UP_TO, "grading as pytest tests: visible checks for students, "
         "every check for graders"),
    Role("mutations.py", NEVER, NEVER, NEVER, "the bug bank's edit types: only the bank uses them"),
    Role("executor/*.py", NEVER, UP_TO, UP_TO, "what answers the checker from beside a graded notebook (the agent) "
         "and the wire both ends read"),
    Role("instructor/__init__.py", NEVER, NEVER, UP_TO, "makes the tooling a package"),
    Role("instructor/course.py", NEVER, NEVER, UP_TO, "the lessons and the course's paths, which grading reads"),
    Role("instructor/roles.py", NEVER, NEVER, UP_TO, "this table, from which grading builds the executor tree"),
    Role("instructor/grading/*.py", NEVER, NEVER, UP_TO, "grading, whole: every route grades with it"),
    Role("instructor/platforms/__init__.py", NEVER, NEVER, UP_TO, "makes the platforms a package"),
    Role("instructor/platforms/gradescope.py", NEVER, NEVER, UP_TO, "Gradescope's run_autograder grades with it"),
    Role("instructor/platforms/grader_folder.py", NEVER, NEVER, UP_TO, "gradescope.py builds with it"),
    Role("instructor/platforms/files.py", NEVER, NEVER, UP_TO, "grader_folder.py and gradescope.py write with it"),
    Role("instructor/platforms/*.py", NEVER, NEVER, NEVER, "builders of what students and graders get"),
    Role("instructor/authoring/*.py", NEVER, NEVER, NEVER, "release, reference code, Colab, diagrams"),
    Role("instructor/qa/*.py", NEVER, NEVER, NEVER, "the harnesses that test the checks and the grading"),
)


def lesson_of(path: Path) -> str | None:
    """The lesson whose folder holds `path` (a file of the package), or None for the package's own modules."""
    parts = path.relative_to(course.PACKAGE).parts
    return parts[0] if len(parts) == 2 and parts[0] in course.lessons() else None


def role_of(path: Path) -> Role | None:
    """The role of a file of the package: the first that matches it; None where none does."""
    relative = path.relative_to(course.PACKAGE)
    roles, name = (LESSON_ROLES, relative.name) if lesson_of(path) else (PACKAGE_ROLES, relative.as_posix())
    return next((role for role in roles if fnmatchcase(name, role.pattern)), None)


def allows(rule: str, owner: str | None, lesson: str) -> bool:
    """Whether `rule` lets a file of the lesson `owner` (None: of the package itself) through for lesson L."""
    if rule == NEVER:
        return False
    if owner is None:
        return True
    return owner in (course.lessons_up_to(lesson) if rule == UP_TO else course.lessons_before(lesson))


def package_files(lesson: str, audience: str) -> list[Path]:
    """The files of ddpm_course that `audience` gets for `lesson`, sorted: `package_files("l2_unet", "student")`."""
    if audience not in AUDIENCES:
        raise ValueError(f"no audience {audience!r}: one of {AUDIENCES}")
    return [path for path in sorted(course.PACKAGE.rglob("*.py")) if "__pycache__" not in path.parts
            and (role := role_of(path)) is not None and allows(role.rule(audience), lesson_of(path), lesson)]


def answer_modules() -> list[str]:
    """The modules of a lesson's folder that hold or compute its answers (those that may never run beside its
    graded notebook)."""
    return [role.pattern.removesuffix(".py") for role in LESSON_ROLES if role.executor != UP_TO]
