"""The release: is everything generated from solutions/ current, and does the release leak nothing?"""
import re
import subprocess
import sys

import nbformat
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.release import generate_release

LESSONS = course.lessons()
GRADE_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


def comparable(notebook) -> dict:
    """A notebook without what Jupyter rewrites on save (outputs, counts, kernel versions)."""
    notebook = nbformat.from_dict(notebook)
    notebook.metadata.pop("language_info", None)
    for cell in notebook.cells:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        cell.metadata.pop("execution", None)
    return notebook


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    generate_release(out)
    return out


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_equals_a_fresh_make_release(lesson, fresh_release):
    """Is notebooks/<lesson> exactly what `make release` generates from solutions/ now?"""
    committed = course.read(course.release_path(lesson))
    fresh = course.read(course.release_path(lesson, fresh_release))
    assert comparable(committed) == comparable(fresh), "notebooks/ is stale: run `make release`"


def test_release_has_no_lesson_without_a_source():
    """Does every folder of notebooks/ still have a source notebook in solutions/?"""
    assert sorted(p.name for p in course.RELEASE.iterdir() if p.is_dir()) == LESSONS


@pytest.mark.parametrize("lesson", LESSONS)
def test_reference_export_is_current(lesson):
    """Is ddpm_course/<lesson>/reference.py exactly the export of the solution notebook?"""
    assert course.reference_path(lesson).read_text() == course.reference_source(lesson), \
        "reference.py is stale: run `make release`"


def test_reference_code_imports_in_a_fresh_interpreter_and_leaves_the_rng_alone():
    """Does every exported reference import on its own, without notebook globals or reseeding torch?"""
    imports = "; ".join(f"import ddpm_course.{lesson}.reference" for lesson in LESSONS)
    script = (f"import torch; torch.manual_seed(7); state = torch.random.get_rng_state(); {imports}; "
              "assert torch.equal(state, torch.random.get_rng_state()), 'an import reseeded torch'")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"MPLBACKEND": "Agg", "PATH": ""})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_contains_no_hidden_tests(lesson):
    """Is every hidden-test region, and every call into the hidden checks, absent from the release?"""
    text = course.release_path(lesson).read_text()
    assert "BEGIN HIDDEN TESTS" not in text
    assert "run_hidden(" not in text
    assert ".hidden" not in text


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_contains_no_solution_code(lesson):
    """Does no line from inside a solution region appear in the released notebook?"""
    text = course.release_path(lesson).read_text()
    leaked = sorted(line for line in course.solution_only_lines(lesson) if line in text)
    assert not leaked


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_imports_only_earlier_lessons_reference(lesson):
    """Does a lesson import reference code only from earlier lessons, never its own answers?"""
    text = course.release_path(lesson).read_text()
    used = set(re.findall(r"ddpm_course\.(\w+)\.reference", text))
    assert all(LESSONS.index(other) < LESSONS.index(lesson) for other in used), used
    assert "ddpm_course.instructor" not in text and ".bugs" not in text


@pytest.mark.parametrize("lesson", LESSONS)
def test_graded_cells_are_locked_scored_and_call_hidden_checks_in_one_line(lesson):
    """Is every graded cell locked, worth points, and does its hidden part make one call into this lesson?"""
    graded = [c for c in course.read(course.solution_path(lesson)).cells if course.is_graded_test(c)]
    assert graded
    for cell in graded:
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and meta["points"] > 0, meta
        lines = cell.source.split("\n")
        begin = lines.index(course.HIDDEN_DELIMITERS[0])
        assert lines[begin + 2] == course.HIDDEN_DELIMITERS[1], "the hidden part should be one line"
        assert lines[begin + 1].startswith(f'run_hidden("{lesson}", '), lines[begin + 1]


def test_grade_ids_are_meaningful_and_unique_across_the_course():
    """Does every nbgrader cell have a descriptive snake_case grade_id, used once in the whole course?"""
    ids = [course.grade_id(c) for lesson in LESSONS for c in course.read(course.solution_path(lesson)).cells
           if course.grade_id(c)]
    assert [gid for gid in ids if not GRADE_ID.match(gid)] == []
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_diagram_a_notebook_shows_exists(lesson):
    """Does every image a lesson links to exist in assets/?"""
    text = course.solution_path(lesson).read_text()
    for link in re.findall(r"\]\((\.\./\.\./assets/[^)]+)\)", text):
        assert (course.solution_path(lesson).parent / link).resolve().is_file(), link
