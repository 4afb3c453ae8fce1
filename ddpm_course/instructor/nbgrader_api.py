"""One in-process entry to nbgrader, so a batch of releases or gradings pays its start-up once."""
from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path

import nbgrader
import nbgrader.api
from alembic.script import ScriptDirectory
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config, PyFileConfigLoader

from ddpm_course.instructor.course import ROOT, SOLUTIONS

# nbgrader runs the `alembic` command of its own environment, found on PATH
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@functools.cache
def alembic_head() -> str:
    """The schema version nbgrader stamps into a new gradebook, read in-process.

    nbgrader asks a fresh `alembic heads` subprocess every time it creates a gradebook
    (1-4 s here); every grading worker creates one, so ask once and from this process.
    """
    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


nbgrader.api.get_alembic_version = alembic_head


def course_config(**overrides) -> Config:
    """The course's nbgrader_config.py, with CourseDirectory settings overridden."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    for key, value in overrides.items():
        setattr(config.CourseDirectory, key, value)
    return config


def make_api(root: Path, release_dir: Path, **overrides) -> NbGraderAPI:
    """An API whose course lives in `root`, reading solutions/ from the repo and releasing
    into `release_dir`; its gradebook is root/gradebook.db."""
    config = course_config(root=str(root), source_directory=str(SOLUTIONS),
                           release_directory=str(release_dir),
                           db_url=f"sqlite:///{Path(root) / 'gradebook.db'}", **overrides)
    config.Application.log_level = logging.WARNING
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def check(result: dict, action: str) -> None:
    """nbgrader's API reports failure in its return value; raise instead of carrying on."""
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {action} failed:\n{result.get('error') or result.get('log')}")
