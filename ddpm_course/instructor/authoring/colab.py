"""Colab: where the course lives online, the links that open a lesson there, and the setup cell
that each released notebook starts with.

Both are written once, in pyproject.toml: the repository URL in [project.urls], and where the setup cell
installs the package from in [tool.ddpm-course] colab-install (the public repository unless set);
`make release` writes them into the notebooks and (readme.py) the README's list of Colab links.
"""
from __future__ import annotations

from ddpm_course.instructor import course
from ddpm_course.instructor.course import ROOT, release_path

GITHUB = "https://github.com/"


def repository_url() -> str:
    """The `Repository` entry of pyproject.toml's [project.urls], a GitHub URL."""
    url = course.pyproject().get("project", {}).get("urls", {}).get("Repository", "")
    if not url.startswith(GITHUB):
        raise ValueError(f"{course.PYPROJECT} needs a [project.urls] entry Repository = \"{GITHUB}<owner>/<name>\"")
    return url.rstrip("/")


def install_url(lesson: str) -> str:
    """Where the lesson's setup cell pip-installs the package from: [tool.ddpm-course] colab-install, `{wheel}`
    standing for the file name of the lesson's student package (`make student-package`); unset, the public
    repository, which carries every lesson's hidden checks, bug bank and reference solutions."""
    setting = course.pyproject().get("tool", {}).get("ddpm-course", {}).get("colab-install")
    return setting.format(wheel=course.student_package_wheel(lesson)) if setting else f"git+{repository_url()}"


def colab_url(lesson: str) -> str:
    """The link that opens the released notebook of `lesson` on Colab, from the main branch."""
    path = release_path(lesson).relative_to(ROOT).as_posix()
    return f"https://colab.research.google.com/github/{repository_url().removeprefix(GITHUB)}/blob/main/{path}"


def setup_cell_source(lesson: str) -> str:
    """The first code cell of the lesson's released notebook: on Colab it installs the course's package
    (checks, data loading, earlier lessons' reference code) from install_url; elsewhere it does nothing."""
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
            f"                    \"ddpm-course @ {install_url(lesson)}\"], check=True)")
