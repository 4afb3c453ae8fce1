"""GitHub Classroom: does the template hold what a student needs and no hidden check or answer, and does its
workflow grade with the pytest grading, every check with the secret and the visible ones (their cells restored
from the release) without, the secret given to the grader's checkout alone?

Builds every lesson's template and grader folders (a fraction of a second each) and reads them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ddpm_course.instructor import course
from ddpm_course.instructor.platforms import classroom, grader_folder
from leaks import answer_leaks, hidden_leaks

LESSONS = course.lessons()
REPO = "teacher/ddpm-grader-private"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    out = tmp_path_factory.mktemp("dist")
    return {lesson: classroom.build(lesson, out, REPO) for lesson in LESSONS}


def texts(folder: Path) -> dict[str, str]:
    """Path inside the folder -> text, for every file."""
    return {p.relative_to(folder).as_posix(): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}


def workflow_text(lesson: str, built) -> str:
    return (built[lesson][0] / ".github" / "workflows" / "classroom.yml").read_text()


def steps(lesson: str, built) -> list[dict]:
    return yaml.safe_load(workflow_text(lesson, built))["jobs"]["run-autograding-tests"]["steps"]


@pytest.mark.parametrize("lesson", LESSONS)
def test_template_holds_the_lessons_notebook_package_and_workflow(lesson, built):
    """Does the template hold this lesson's notebook alone (and the release's copy that visible grading restores
    the check cells from), the visible checks, the visible grading, setup files and the workflow?"""
    names = set(texts(built[lesson][0]))
    copy = classroom.RELEASE_COPY.format(lesson=lesson)
    needed = {f"notebooks/{lesson}/{lesson}.ipynb", f"ddpm_course/{lesson}/checks.py", "ddpm_course/progress.py",
              "ddpm_course/pytest_grading.py", "requirements.txt", "pyproject.toml", "README.md", ".gitignore",
              ".github/workflows/classroom.yml"}
    assert needed <= names
    assert sorted(n for n in names if n.endswith(".ipynb")) == sorted([f"notebooks/{lesson}/{lesson}.ipynb", copy])
    assert (built[lesson][0] / copy).read_bytes() == course.release_path(lesson).read_bytes()


@pytest.mark.parametrize("lesson", LESSONS)
def test_template_holds_no_hidden_check_and_no_answer(lesson, built):
    """Are hidden.py, bugs.py, instructor/ and this lesson's reference absent, and no line of a hidden check or of
    an answer to this or a later lesson anywhere, the workflow and README included?"""
    content = texts(built[lesson][0])
    withheld = [n for n in content if n.endswith(("hidden.py", "bugs.py")) or "instructor/" in n
                or n == f"ddpm_course/{lesson}/reference.py"]
    assert withheld == []
    assert "BEGIN HIDDEN TESTS" not in "\n".join(content.values())
    assert hidden_leaks(content) == [] and answer_leaks(content, lesson) == []


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_private_grader_is_the_grader_folder_of_the_lesson(lesson, built):
    """Is the folder for the private repository exactly the lesson's grader folder, hidden checks included?"""
    written = texts(built[lesson][1])
    assert set(written) == set(grader_folder.contents(lesson))
    assert f"ddpm_course/{lesson}/hidden.py" in written


@pytest.mark.parametrize("lesson", LESSONS)
def test_workflow_fetches_the_hidden_checks_only_with_the_secret(lesson, built):
    """Does the workflow check out the private grader with the secret, and only when the secret is set?"""
    fetch = [s for s in steps(lesson, built) if s.get("with", {}).get("repository") == REPO]
    assert len(fetch) == 1
    assert fetch[0]["with"]["token"] == f"${{{{ secrets.{classroom.SECRET} }}}}"
    assert fetch[0]["if"] == "steps.grader.outputs.token == 'true'" and fetch[0]["with"]["path"] == ".grader"
    probe = next(s for s in steps(lesson, built) if s.get("id") == "grader")
    assert probe["run"] == f"echo \"token=${{{{ secrets.{classroom.SECRET} != '' }}}}\" >> \"$GITHUB_OUTPUT\""


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_token_reaches_the_graders_checkout_alone_and_no_checkout_keeps_credentials(lesson, built):
    """Is the secret's value given to the grader's checkout step alone (no env of the workflow, job or a step holds
    it; the probe only compares it with ''), and does every checkout leave no credentials in .git/config?"""
    text = workflow_text(lesson, built)
    value, probe = f"${{{{ secrets.{classroom.SECRET} }}}}", f"${{{{ secrets.{classroom.SECRET} != '' }}}}"
    assert text.count("secrets.") == text.count(value) + text.count(probe) == 2
    workflow = yaml.safe_load(text)
    job = workflow["jobs"]["run-autograding-tests"]
    holders = [s for s in job["steps"] if value in yaml.safe_dump(s)]
    assert [s["with"].get("repository") for s in holders] == [REPO] and holders[0]["with"]["token"] == value
    assert "secrets" not in yaml.safe_dump([workflow.get("env"), job.get("env")] + [s.get("env") for s in job["steps"]])
    checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2 and all(s["with"]["persist-credentials"] is False for s in checkouts)


@pytest.mark.parametrize("lesson", LESSONS)
def test_workflow_grades_with_pytest_and_scores_each_graded_cell(lesson, built):
    """Does the workflow grade once with the pytest grading (all checks from the grader, else the visible ones),
    then score each graded cell with its points from the result, and report every cell to GitHub Classroom?"""
    all_steps = steps(lesson, built)
    grading = next(s for s in all_steps if s.get("name") == "Grade")["run"]
    assert "cd .grader && PYTHONPATH=\"$PWD\" " + classroom.GRADE + " --checks all" in grading
    release = classroom.RELEASE_COPY.format(lesson=lesson)
    assert f"PYTHONPATH=\"$PWD\" {classroom.GRADE} --checks visible --release {release} \"$NOTEBOOK\"" in grading
    assert "if [ \"$EVERY_CHECK\" = true ]" in grading  # the token decides, not a .grader/ a student could commit
    scored = {s["id"]: s["with"] for s in all_steps if "autograding-command-grader" in s.get("uses", "")}
    assert {gid: w["max-score"] for gid, w in scored.items()} == course.points(lesson)
    assert all(w["command"] == f"python -m ddpm_course.pytest_grading {classroom.RESULTS} {gid}"
               for gid, w in scored.items())
    reporter = next(s for s in all_steps if "autograding-grading-reporter" in s.get("uses", ""))
    assert reporter["with"]["runners"].split(",") == list(course.points(lesson))
    assert reporter["env"] == {f"{gid.upper()}_RESULTS": f"${{{{ steps.{gid}.outputs.result }}}}"
                               for gid in course.points(lesson)}
