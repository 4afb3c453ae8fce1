"""Shared test settings."""
import os

import pytest

# Notebook code and checks plot; tests never open a window.
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(items) -> None:
    """A test that reads the class-scale gradings of test_grade.py waits minutes for them: slow."""
    for item in items:
        if "runs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
