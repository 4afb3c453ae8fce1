"""The grader folder (Gradescope's course/, GitHub Classroom's private grader): does it hold what grading needs,
no answer notebook, and a grading source from which nbgrader records exactly what the solutions give it?"""
from __future__ import annotations

import ast
import re

import nbformat
import pytest
from nbgrader.preprocessors import ClearSolutions

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.nbgrader_api import course_config
from ddpm_course.instructor.platforms import grader_folder

LESSONS = course.lessons()


def cleared(notebook) -> list[dict]:
    """What nbgrader's generate_assignment records of each cell (its SaveCells runs after ClearSolutions):
    source and metadata, with the course's stub in place of each solution region."""
    notebook, _ = ClearSolutions(config=course_config()).preprocess(nbformat.from_dict(notebook), {})
    return [{"source": c.source, "metadata": c.metadata, "cell_type": c.cell_type} for c in notebook.cells]


@pytest.mark.parametrize("lesson", LESSONS)
def test_nbgrader_records_the_same_cells_from_the_grading_source_as_from_the_solutions(lesson):
    """Does the grading source give nbgrader the very cells the solution notebook gives it, hidden tests included?"""
    source = grader_folder.grading_source(lesson)
    assert cleared(source) == cleared(course.read(course.solution_path(lesson)))
    checks = [c.source for c in source.cells if course.is_graded_test(c)]
    assert checks and all(course.HIDDEN_DELIMITERS[0] in text for text in checks)


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_grading_source_holds_no_answer(lesson):
    """Is every line found only inside the solution regions absent from the grading source?"""
    text = nbformat.writes(grader_folder.grading_source(lesson))
    assert sorted(line for line in course.solution_only_lines(lesson) if line in text) == []


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_grader_holds_the_hidden_checks_but_no_bug_bank_and_no_later_lesson(lesson):
    """Does the grader carry the grading tooling and the hidden checks and references up to the lesson, but no
    bug bank (bugs.py's edits quote the answers), no later lesson and no solution notebook but the grading source?"""
    names = set(grader_folder.contents(lesson))
    upto, later = course.lessons_up_to(lesson), course.lessons_from(lesson)[1:]
    assert {f"ddpm_course/{name}/{module}" for name in upto for module in ("hidden.py", "reference.py")} <= names
    assert {"ddpm_course/instructor/grading/grade.py", "nbgrader_config.py", "requirements.txt"} <= names
    assert [n for n in names if n.endswith(("bugs.py", "mutations.py", "bank.py"))
            or any(f"/{name}/" in n for name in later)] == []
    assert sorted(n for n in names if n.endswith(".ipynb")) == [f"notebooks/{lesson}/{lesson}.ipynb",
                                                          f"solutions/{lesson}/{lesson}.ipynb"]


def named_modules(source: str) -> set[str]:
    """The modules of the package a source names: in its imports (`from ddpm_course.x import y` names
    ddpm_course.x and, where it is a module, ddpm_course.x.y) or in a string (nbgrader_config.py names its
    preprocessors `ddpm_course.instructor.grading.limits.LimitedExecute`)."""
    names = set(re.findall(r"\bddpm_course(?:\.\w+)+", source))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    prefixes = {".".join(name.split(".")[:n]) for name in names for n in range(2, name.count(".") + 2)}
    return {name for name in prefixes if course.ROOT.joinpath(*name.split(".")).with_suffix(".py").is_file()
            or course.ROOT.joinpath(*name.split("."), "__init__.py").is_file()}


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_grader_holds_every_module_its_code_config_and_notebook_name(lesson):
    """Does every module of the package that the grader's code, its nbgrader_config.py or the lesson's notebook
    names come with it? (A run in this repository's environment would not notice one missing: the editable
    install would lend it.)"""
    files = grader_folder.contents(lesson)
    sources = [path.read_text() for name, path in files.items() if name.endswith(".py")]
    sources += [c.source for c in grader_folder.grading_source(lesson).cells if c.cell_type == "code"]
    named = {name.replace(".", "/") for source in sources for name in named_modules(source)}
    assert sorted(n for n in named if f"{n}.py" not in files and f"{n}/__init__.py" not in files) == []
