"""`make github-classroom LESSON=name`: a GitHub Classroom assignment that grades with the pytest grading.

    python -m ddpm_course.instructor.platforms.classroom --lesson NAME [--grader-repo OWNER/NAME] [--into dist/]

Writes two folders:
- dist/github-classroom-<lesson>/: what the instructor commits to the assignment's template
  repository, which every student gets a copy of: the student bundle's files (the role table's, so no
  hidden check and no answer of this lesson or a later one) with this lesson's notebook only, a
  README for students, and .github/workflows/classroom.yml, which grades the notebook on every push
  with `ddpm_course.pytest_grading` and reports a score per graded cell to GitHub Classroom, and
  .github/classroom/<lesson>.ipynb, a copy of the release that the visible-only grading restores the
  check cells from (the notebook itself is the student's to edit);
- dist/github-classroom-<lesson>-grader/: the grader folder of the lesson (grader_folder.py: hidden checks and
  reference solutions, no solution notebook), for a *private* repository, by default
  <owner of the course's repository>/ddpm-course-grader-<lesson>.
The workflow fetches the grader repository with the secret DDPM_GRADER_TOKEN and runs every check;
where the secret is not set, it runs the visible checks alone. Only the step that checks the grader out
is given the token, and no checkout leaves its credentials in .git/config: the student's code, which
runs in a later step, finds neither. README, "Grading platforms", says what each option keeps secret.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ddpm_course.instructor import course
from ddpm_course.instructor.authoring import colab
from ddpm_course.instructor.platforms import grader_folder, student_bundle
from ddpm_course.instructor.platforms.files import PROGRESS, STUDENT_SET_UP, torch_cpu_install, write_tree

SECRET = "DDPM_GRADER_TOKEN"
RELEASE_COPY = ".github/classroom/{lesson}.ipynb"
GRADE = "python -m pytest -p ddpm_course.pytest_grading -p no:cacheprovider"
RESULTS = "grading.xml"

WORKFLOW = """# Written by `make github-classroom LESSON={lesson}`: grades {notebook} on every push.
# Every check runs when the secret {secret} is set: a read-only token of the private repository
# {grader_repo}, which holds the hidden checks.
# Without it, the visible checks alone run, the check cells of {release} put back first.
# The token goes to the step that checks the grader out, and no checkout keeps credentials in .git/config:
# the notebook's code finds neither.
# Students can edit this file: the course README ("Grading platforms") says what that exposes.
name: Autograding Tests
"on": [push, workflow_dispatch, repository_dispatch]
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 30
    env:
      NOTEBOOK: {notebook}
    steps:
      - name: Check out the submission
        uses: actions/checkout@v4
        with:
          persist-credentials: false
      - name: Is the grader token set?
        id: grader
        # a step's `if` cannot read secrets: this step learns whether it is set, and never holds it
        run: echo "token=${{{{ secrets.{secret} != '' }}}}" >> "$GITHUB_OUTPUT"
      - name: Check out the hidden checks
        if: steps.grader.outputs.token == 'true'
        uses: actions/checkout@v4
        with:
          repository: {grader_repo}
          token: ${{{{ secrets.{secret} }}}}
          path: .grader
          persist-credentials: false
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the pinned requirements (torch's CPU build)
        run: |
          {install_torch}
          pip install --quiet -r requirements.txt
      - name: Grade
        env:
          EVERY_CHECK: ${{{{ steps.grader.outputs.token }}}}
        run: |
          if [ "$EVERY_CHECK" = true ]; then
            # every check, through the course's own grading, with the grader's package
            cd .grader && PYTHONPATH="$PWD" {grade} --checks all "../$NOTEBOOK" --junitxml=../{results} || true
          else
            # the notebook's visible checks, their cells restored from the release, with this repository's package
            PYTHONPATH="$PWD" {grade} --checks visible --release {release} "$NOTEBOOK" --junitxml={results} || true
          fi
{cells}      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{reports}        with:
          runners: {runners}
"""

CELL = """      - name: {grade_id}
        id: {grade_id}
        uses: classroom-resources/autograding-command-grader@v1
        with:
          test-name: {grade_id}
          command: python -m ddpm_course.pytest_grading {results} {grade_id}
          timeout: 1
          max-score: {points}
"""

README = """# DDPM from scratch: {lesson}

Your work for this assignment is `{notebook}`. Fill in each stub, run the check cell below
it, and push: every push is graded, and the *Actions* tab shows the result of every check
(the *Autograding Tests* run, then its *Autograding Reporter* step).

{set_up}
Check every exercise at once, as the grader will run your notebook (top to bottom, in a fresh kernel):

{progress}
Grading may add hidden cases to the checks you see: aim for correct code, not green checks.
Keep the names a stub prescribes, and do not edit the check cells or `.github/`.
"""

GITIGNORE = """.venv/
__pycache__/
*.egg-info/
.ipynb_checkpoints/
data/
runs/
.grader/
grading.xml
"""


def template_name(lesson: str) -> str:
    return f"github-classroom-{lesson}"


def default_grader_repo(lesson: str) -> str:
    """<owner of the course's repository>/ddpm-course-grader-<lesson>."""
    owner = colab.repository_url().removeprefix(colab.GITHUB).split("/")[0]
    return f"{owner}/ddpm-course-grader-{lesson}"


def workflow(lesson: str, grader_repo: str) -> str:
    """.github/workflows/classroom.yml: grade once, then a scoring step per graded cell that reads the result."""
    points = course.points(lesson)
    cells = "".join(CELL.format(grade_id=gid, points=f"{pts:g}", results=RESULTS) for gid, pts in points.items())
    reports = "".join(f'          {gid.upper()}_RESULTS: "${{{{ steps.{gid}.outputs.result }}}}"\n' for gid in points)
    return WORKFLOW.format(lesson=lesson, notebook=course.release_path(lesson).relative_to(course.ROOT).as_posix(),
                           release=RELEASE_COPY.format(lesson=lesson), secret=SECRET, grader_repo=grader_repo,
                           grade=GRADE, results=RESULTS, cells=cells, reports=reports, runners=",".join(points),
                           install_torch=torch_cpu_install("pip", "requirements.txt"))


def contents(lesson: str, grader_repo: str) -> dict[str, Path | str]:
    """Path inside the template -> file of the repository, or text: the bundle's files of the lesson, with
    its own notebook only, then the README, .gitignore, workflow and the release's copy it restores from."""
    prefix = f"{student_bundle.bundle_name(lesson)}/"
    bundled = student_bundle.contents(lesson)
    found: dict[str, Path | str] = {name.removeprefix(prefix): path for name, path in bundled.items()
                                    if not name.startswith(f"{prefix}notebooks/")
                                    or name.startswith(f"{prefix}notebooks/{lesson}/")}
    notebook = course.release_path(lesson).relative_to(course.ROOT).as_posix()
    found["README.md"] = README.format(lesson=lesson, notebook=notebook, set_up=STUDENT_SET_UP.format(open=notebook),
                                       progress=PROGRESS.format(notebooks=f" {notebook}"))
    found[".gitignore"] = GITIGNORE
    found[".github/workflows/classroom.yml"] = workflow(lesson, grader_repo)
    found[RELEASE_COPY.format(lesson=lesson)] = course.release_path(lesson)
    return found


def build(lesson: str, into: Path, grader_repo: str | None = None) -> tuple[Path, Path]:
    """Write the template folder and the grader folder of `lesson` under `into`, afresh; return both."""
    template, private = into / template_name(lesson), into / f"{template_name(lesson)}-grader"
    for folder in (template, private):
        shutil.rmtree(folder, ignore_errors=True)
    write_tree(contents(lesson, grader_repo or default_grader_repo(lesson)), template)
    return template, grader_folder.write(lesson, private)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lesson", choices=course.lessons(), required=True)
    parser.add_argument("--grader-repo", help="the private repository of the hidden checks, OWNER/NAME "
                                              "(default: <course owner>/ddpm-course-grader-<lesson>)")
    parser.add_argument("--into", type=Path, default=course.ROOT / "dist", help="output folder (default: dist/)")
    args = parser.parse_args()
    repo = args.grader_repo or default_grader_repo(args.lesson)
    template, private = build(args.lesson, args.into, repo)
    print(f"{template}: commit it to the assignment's template repository\n"
          f"{private}: push it to the private repository {repo}, and give the assignment's repositories a "
          f"read-only token of it as the secret {SECRET} (or leave it out: visible checks only)")


if __name__ == "__main__":
    main()
