"""Colab support: the repository URL, the links, and the setup cell every released notebook starts with."""
import subprocess
import sys
import types

import pytest

from ddpm_course.instructor.authoring import colab


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
    exec(colab.setup_cell_source(), {})
    assert calls == []


def test_setup_cell_installs_the_course_package_from_the_repository_on_colab(monkeypatch):
    """On Colab, does the setup cell pip-install the course's package from the repository, failing loudly with pip?"""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append((command, check)))
    google = types.ModuleType("google")
    google.colab = types.ModuleType("google.colab")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    exec(colab.setup_cell_source(), {})
    [(command, check)] = calls
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and check
    assert command[-1] == f"ddpm-course @ git+{colab.repository_url()}"


def test_a_missing_repository_url_is_an_error_that_says_where_to_write_it(tmp_path, monkeypatch):
    """Without [project.urls] Repository, does the release refuse with a message naming pyproject.toml?"""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "ddpm-course"\n')
    monkeypatch.setattr(colab, "PYPROJECT", pyproject)
    with pytest.raises(ValueError, match=r"pyproject.toml needs a \[project.urls\] entry Repository"):
        colab.repository_url()
