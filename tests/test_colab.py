"""Colab support: the repository URL, the links, and the setup cell every released notebook starts with."""
import subprocess
import sys
import types

import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.authoring import colab

LESSON = course.lessons()[1]


def test_repository_url_is_the_pyproject_entry_and_colab_links_follow_it():
    """Do the Colab links point at the released notebooks of the repository named in pyproject.toml?"""
    url = colab.repository_url()
    assert url.startswith("https://github.com/") and url.count("/") == 4
    assert colab.colab_url("l2_unet") == (f"https://colab.research.google.com/github/{url[len('https://github.com/'):]}"
                                          "/blob/main/notebooks/l2_unet/l2_unet.ipynb")


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    """Does the setup cell run no command where google.colab cannot be imported (a laptop, a grader)?"""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setitem(sys.modules, "google.colab", None)  # None in sys.modules: the import fails
    exec(colab.setup_cell_source(LESSON), {})
    assert calls == []


def colab_calls(monkeypatch) -> list:
    """The commands the setup cell of LESSON runs on a Colab runtime (google.colab importable), each with `check`."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append((command, check)))
    google = types.ModuleType("google")
    google.colab = types.ModuleType("google.colab")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    exec(colab.setup_cell_source(LESSON), {})
    return calls


def with_pyproject(text: str, tmp_path, monkeypatch) -> None:
    """Read pyproject.toml's settings from `text`, for the rest of the test."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(text)
    monkeypatch.setattr(course, "PYPROJECT", pyproject)


def test_setup_cell_installs_the_course_package_from_the_repository_on_colab(monkeypatch):
    """On Colab, without [tool.ddpm-course] colab-install, does the setup cell pip-install the course's package
    from the public repository, failing loudly with pip?"""
    [(command, check)] = colab_calls(monkeypatch)
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and check
    assert command[-1] == f"ddpm-course @ git+{colab.repository_url()}"


def test_colab_install_sends_every_setup_cell_to_the_lessons_student_package(tmp_path, monkeypatch):
    """With colab-install set, does each lesson's setup cell install that lesson's wheel from there, {wheel}
    naming the file that `make student-package` writes?"""
    with_pyproject('[project]\nversion = "1.2.0"\n[project.urls]\nRepository = "https://github.com/a/b"\n'
                   '[tool.ddpm-course]\ncolab-install = "https://example.edu/ddpm/{wheel}"\n', tmp_path, monkeypatch)
    [(command, _)] = colab_calls(monkeypatch)
    assert command[-1] == f"ddpm-course @ https://example.edu/ddpm/{course.student_package_wheel(LESSON)}"
    assert course.student_package_wheel(LESSON) == f"ddpm_course-1.2.0+{LESSON.replace('_', '')}-py3-none-any.whl"


def test_a_missing_repository_url_is_an_error_that_says_where_to_write_it(tmp_path, monkeypatch):
    """Without [project.urls] Repository, does the release refuse with a message naming pyproject.toml?"""
    with_pyproject('[project]\nname = "ddpm-course"\n', tmp_path, monkeypatch)
    with pytest.raises(ValueError, match=r"pyproject.toml needs a \[project.urls\] entry Repository"):
        colab.repository_url()
