"""One in-process entry to nbgrader, so a batch of releases or gradings pays its start-up once:
its API, its configuration, and its gradebook."""
from __future__ import annotations

import functools
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nbgrader
import nbgrader.api
from alembic.script import ScriptDirectory
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config import Config, PyFileConfigLoader

from ddpm_course.instructor.course import ROOT, SOLUTIONS


@functools.cache
def alembic_head() -> str:
    """The schema version nbgrader stamps into a new gradebook, read in-process.

    nbgrader asks a fresh `alembic heads` subprocess every time it creates a gradebook
    (1-4 s here, and the `alembic` of its environment must be on PATH); every grading worker
    creates one, so ask once and from this process. Nothing else in nbgrader runs `alembic`.
    """
    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


nbgrader.api.get_alembic_version = alembic_head


def gradebook_url(root: Path) -> str:
    """The database of the course in `root`: root/gradebook.db."""
    return f"sqlite:///{Path(root) / 'gradebook.db'}"


@contextmanager
def quiet_gradebook() -> Iterator[None]:
    """nbgrader's own gradebook code trips SQLAlchemy's SAWarning on every autograde; they say nothing
    about the grades, and would bury the instructor's output (and the test report)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


@contextmanager
def gradebook(root: Path) -> Iterator[Gradebook]:
    """The gradebook of the course in `root`, open."""
    with quiet_gradebook(), Gradebook(gradebook_url(root)) as book:
        yield book


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
                           db_url=gradebook_url(root), **overrides)
    config.Application.log_level = logging.WARNING
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def require_success(result: dict, action: str) -> None:
    """nbgrader's API reports failure in its return value; raise instead of carrying on."""
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {action} failed:\n{result.get('error') or result.get('log')}")
