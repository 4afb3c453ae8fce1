"""`make gradescope LESSON=name`: a Gradescope autograder that grades with the course's own grading.

    python -m ddpm_course.instructor.platforms.gradescope build --lesson NAME [--into dist/]
    python -m ddpm_course.instructor.platforms.gradescope run --lesson NAME [--root /autograder]   # in the container

dist/gradescope-<lesson>.zip is Gradescope's layout:
- setup.sh: run once when Gradescope builds the image; installs Python 3.11+ and the pinned requirements
  into $AUTOGRADER_ROOT/venv (torch from its CPU wheel index: the graders have no GPU);
- run_autograder: run once per submission; grades $AUTOGRADER_ROOT/submission/ with `run` below;
- course/: the grader folder of the lesson (grader_folder.py): the package with its hidden checks and
  reference solutions, a grading source, no solution notebook. Gradescope never shows an
  autograder's files to students.
AUTOGRADER_ROOT (default /autograder) replaces that folder everywhere, so the zip runs anywhere.

`run` grades through ddpm_course.instructor.grading.grade (nbgrader, hidden checks restored, the limits of
`make autograde`) and writes results/results.json: one test per graded cell (name, score, max_score,
status, output: the failure the student sees), the total score, and, for a submission that could not
be graded (no notebook, not a notebook), every test at 0 with the reason. Its log (stdout, shown to
instructors only) gives the grading record, notes of triage included.
"""
from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import grade, triage
from ddpm_course.instructor.grading.records import Record
from ddpm_course.instructor.platforms import grader_folder
from ddpm_course.instructor.platforms.files import torch_cpu_install, write_zip

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image: the pinned requirements,
# with torch's CPU build (PyPI's Linux wheel would bring gigabytes of CUDA that graders never use).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
COURSE="$ROOT/source/course"
apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip
# the course needs Python 3.11+ (nbgrader 0.9.6, matplotlib 3.11): where python3 is older (Ubuntu 22.04's is
# 3.10), the release's python3.11 package
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
  PYTHON=python3.11
fi
"$PYTHON" -m venv "$ROOT/venv"
""" + torch_cpu_install('"$ROOT/venv/bin/pip"', '"$COURSE/requirements.txt"') + """
"$ROOT/venv/bin/pip" install --quiet -r "$COURSE/requirements.txt"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this once per submission (it copies it to /autograder/run_autograder): grade
# $ROOT/submission/ with the course's own grading, write $ROOT/results/results.json.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
COURSE="$ROOT/source/course"
cd "$COURSE"
# the course's package comes from course/, in this process and in the grading kernels it starts
export PYTHONPATH="$COURSE"
# Where Docker refuses bubblewrap's namespaces, grading runs each notebook as nobody (README, "Security"): the
# hidden checks and reference solutions must be out of nobody's reach, the environment (venv/) within it.
chmod -R o-rwx "$ROOT/source" "$ROOT/submission" 2>/dev/null || true
exec "$ROOT/venv/bin/python3" -m ddpm_course.instructor.platforms.gradescope run --lesson {lesson} --root "$ROOT"
"""

MISSING_OUTPUT = "this check cell is missing from the notebook, or lost its grading metadata"


def zip_name(lesson: str) -> str:
    return f"gradescope-{lesson}.zip"


def build(lesson: str, into: Path) -> Path:
    """Write into/gradescope-<lesson>.zip; return its path."""
    files = {"setup.sh": SETUP, "run_autograder": RUN.format(lesson=lesson)}
    files |= {f"course/{name}": source for name, source in grader_folder.contents(lesson).items()}
    # executable: Gradescope runs both as programs
    return write_zip(files, into / zip_name(lesson), executables=("setup.sh", "run_autograder"))


def to_grade(submission: Path, lesson: str) -> Path:
    """What to hand to grading: the submission folder as uploaded (triage finds the notebook, notes a
    misnamed one, or records why there is none); if it has no notebook at its top but holds the lesson's
    notebook deeper (a GitHub repository submitted whole), that notebook."""
    if not any(submission.glob("*.ipynb")):
        nested = [p for p in sorted(submission.rglob(f"{lesson}.ipynb")) if ".ipynb_checkpoints" not in p.parts]
        if len(nested) == 1:
            return nested[0]
    return submission


def results(record: Record) -> dict:
    """Gradescope's results.json for one record: a test per graded cell of the lesson, in notebook order."""
    cells = {g.grade_id: g for g in record.cells}
    tests = []
    for grade_id, max_score in course.points(record.lesson).items():
        cell = cells.get(grade_id)
        score = (cell.score or 0) if cell else 0
        if record.status != "graded":
            output = f"not graded ({record.status}): {record.reason}"
        else:
            output = (cell.output if cell else "") or ("" if score >= max_score else MISSING_OUTPUT)
        tests.append({"name": grade_id, "score": score, "max_score": max_score,
                      "status": "passed" if score >= max_score else "failed", "output": output})
    summary = f"{record.lesson}: {record.score:g} / {record.max_score:g}"
    if record.status != "graded":
        summary += f"\nYour submission could not be graded ({record.status}): {record.reason}"
    return {"score": record.score, "output": summary, "tests": tests, "stdout_visibility": "hidden"}


def run(root: Path, lesson: str) -> dict:
    """Grade root/submission/ and write root/results/results.json; return what was written."""
    print(f"grading {lesson} with the course in {course.ROOT}", flush=True)
    submission = root / "submission"
    try:
        if not submission.is_dir():
            raise FileNotFoundError(f"no folder {submission}")
        record = grade.grade_apart([(lesson, to_grade(submission, lesson))])[0]
    except Exception as err:  # a fault of the grader, not of the submission: still a record that says so
        record = Record("submission", lesson, "error", 0, triage.max_score(lesson),
                        f"the autograder failed ({type(err).__name__}: {err}); ask your instructor to regrade")
    print(grade.summary_line(record), flush=True)
    out = results(record)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(out, indent=1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "run"))
    parser.add_argument("--lesson", choices=course.lessons(), required=True)
    parser.add_argument("--into", type=Path, default=course.ROOT / "dist", help="build: output folder (dist/)")
    parser.add_argument("--root", type=Path, default=Path("/autograder"), help="run: Gradescope's folder")
    args = parser.parse_args()
    if args.action == "build":
        path = build(args.lesson, args.into)
        with zipfile.ZipFile(path) as archive:
            count = len(archive.namelist())
        print(f"{path}: {count} files, {path.stat().st_size / 1024:.0f} KiB; upload it as the autograder "
              f"of a Gradescope programming assignment (see README, Grading platforms)")
    else:
        run(args.root, args.lesson)


if __name__ == "__main__":
    main()
