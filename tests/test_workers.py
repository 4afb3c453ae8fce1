"""Grading workers: why they copy only the notebook, and what they report when nbgrader gives up."""
import subprocess
import sys
from pathlib import Path

from traitlets.config import Config

from ddpm_course.instructor.grading import workers
from ddpm_course.instructor.grading.workers import nbgrader_error
from submissions import FIRST, shadow_package


def test_files_next_to_a_notebook_would_shadow_the_course_package(tmp_path):
    """Is the attack real: would a kernel started in the submission folder import the fake checks?"""
    shadow_package(tmp_path)
    result = subprocess.run([sys.executable, "-c", f"from ddpm_course.{FIRST} import checks; print(checks.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert Path(result.stdout.strip()) == tmp_path / "ddpm_course" / FIRST / "checks.py"


def test_nbgrader_error_names_the_exception_that_stopped_it():
    """From nbgrader's log, is the last real exception reported, not its closing 'see the above traceback'?"""
    log = ("[ERROR] There was an error processing assignment\nTraceback (most recent call last):\n"
           "  File \"x.py\", line 1\nnbclient.exceptions.DeadKernelError: Kernel died\n"
           "nbgrader.utils.NbGraderException: Please see the above traceback")
    assert nbgrader_error({"log": log}) == "DeadKernelError: Kernel died"
    assert nbgrader_error({"log": "[ERROR] something odd"}) == "[ERROR] something odd"
    assert nbgrader_error({}) == "unknown error"


def test_a_class_with_nothing_to_grade_needs_no_worker(tmp_path):
    """With no notebook to grade (every submission missing or unreadable), does the run end at once, without
    a template gradebook, which only exists once a submitted lesson was generated?"""
    assert list(workers.run([], 2, tmp_path / "no-template.db", tmp_path / "workers", Config())) == []
