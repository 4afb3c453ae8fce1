"""The README's generated blocks, each between two markers, rewritten by `make release`: the lesson table
(from each lesson package's docstring, its `You build:` line) and the Colab links (from pyproject.toml)."""
from __future__ import annotations

import importlib
import re

from ddpm_course.instructor import course
from ddpm_course.instructor.authoring.colab import colab_url

README = course.ROOT / "README.md"
# block name -> what it is written from
SOURCES = {"lesson table": "ddpm_course/<lesson>/__init__.py", "colab links": "pyproject.toml"}
# block name -> its (begin, end) markers
MARKERS = {name: (f"<!-- BEGIN {name.upper()}: written by `make release` from {source} -->",
                  f"<!-- END {name.upper()} -->") for name, source in SOURCES.items()}


def builds(lesson: str) -> str:
    """What a student builds in `lesson`: the `You build:` line of its package's docstring."""
    doc = importlib.import_module(f"ddpm_course.{lesson}").__doc__ or ""
    found = re.search(r"^You build: (.+?)\.?$", doc, re.MULTILINE)
    if found is None:
        raise ValueError(f"ddpm_course/{lesson}/__init__.py: its docstring needs a line 'You build: ...' "
                         "(the README's lesson table shows it)")
    return found.group(1)


def lesson_table() -> str:
    rows = [f"| {number} | `notebooks/{lesson}/` | {builds(lesson)} |"
            for number, lesson in enumerate(course.lessons(), start=1)]
    return "\n".join(["| Lesson | Notebook | You build |", "|---|---|---|", *rows])


def colab_links() -> str:
    return "\n".join(f"- [Open lesson {number} (`{lesson}`) in Colab]({colab_url(lesson)})"
                     for number, lesson in enumerate(course.lessons(), start=1))


def blocks() -> dict[str, str]:
    """Each generated block, markers included."""
    made = {"lesson table": lesson_table(), "colab links": colab_links()}
    return {name: f"{MARKERS[name][0]}\n{text}\n{MARKERS[name][1]}" for name, text in made.items()}


def write_blocks() -> None:
    """Replace each generated block of the README with the current one."""
    text = README.read_text()
    for name, block in blocks().items():
        begin, end = MARKERS[name]
        start, stop = text.index(begin), text.index(end) + len(end)
        text = text[:start] + block + text[stop:]
    README.write_text(text)
