"""Colab: where the course lives online, the links that open a lesson there, and the setup cell
that each released notebook starts with.

The repository URL is written once, in pyproject.toml's [project.urls]; `make release` writes
it into the notebooks and (readme.py) the README's list of Colab links.
"""
from __future__ import annotations

import re

from ddpm_course.instructor.course import ROOT, release_path

PYPROJECT = ROOT / "pyproject.toml"
GITHUB = "https://github.com/"


def repository_url() -> str:
    """The `Repository` entry of pyproject.toml's [project.urls], a GitHub URL."""
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', PYPROJECT.read_text(), re.MULTILINE)
    if match is None or not match.group(1).startswith(GITHUB):
        raise ValueError(f"{PYPROJECT} needs a [project.urls] entry Repository = \"{GITHUB}<owner>/<name>\"")
    return match.group(1).rstrip("/")


def colab_url(lesson: str) -> str:
    """The link that opens the released notebook of `lesson` on Colab, from the main branch."""
    path = release_path(lesson).relative_to(ROOT).as_posix()
    return f"https://colab.research.google.com/github/{repository_url().removeprefix(GITHUB)}/blob/main/{path}"


def setup_cell_source() -> str:
    """The first code cell of every released notebook: on Colab it installs the course's package
    (checks, data loading, earlier lessons' reference code) from the repository; elsewhere it does nothing."""
    return ("# On Colab: install the course's package (checks, data loading, earlier lessons' code). "
            "Elsewhere: nothing to do.\n"
            "try:\n"
            "    import google.colab  # noqa: F401 (exists only on Colab)\n"
            "except ImportError:\n"
            "    pass\n"
            "else:\n"
            "    import subprocess\n"
            "    import sys\n"
            "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\",\n"
            f"                    \"ddpm-course @ git+{repository_url()}\"], check=True)")
