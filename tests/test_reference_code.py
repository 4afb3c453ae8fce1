"""The reference export: is each reference.py current, importable, headed by its cells, and free of
imports it never uses?"""
import ast
import subprocess
import sys

import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.authoring import reference_code

LESSONS = course.lessons()


@pytest.mark.parametrize("lesson", LESSONS)
def test_reference_export_is_current(lesson):
    """Is ddpm_course/<lesson>/reference.py exactly the export of the solution notebook?"""
    assert course.reference_path(lesson).read_text() == reference_code.reference_source(lesson), \
        "reference.py is stale: run `make release`"


def test_reference_code_imports_in_a_fresh_interpreter_and_leaves_the_rng_alone():
    """Does every exported reference import on its own, without notebook globals or reseeding torch?"""
    imports = "; ".join(f"import ddpm_course.{lesson}.reference" for lesson in LESSONS)
    script = (f"import torch; torch.manual_seed(7); state = torch.random.get_rng_state(); {imports}; "
              "assert torch.equal(state, torch.random.get_rng_state()), 'an import reseeded torch'")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"MPLBACKEND": "Agg", "PATH": ""})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_import_of_a_reference_is_used(lesson):
    """Does each reference.py import only names its own code reads (no plt, time, show_images...)?"""
    tree = ast.parse(course.reference_path(lesson).read_text())
    bound = {reference_code.bound_name(a) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
             and getattr(node, "module", None) != "__future__" for a in node.names}
    assert bound - reference_code.used_names(tree) == set()


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_exported_block_names_the_cell_it_came_from(lesson):
    """Is each export cell's code headed by `# %% cell <id>`, in notebook order?"""
    cells = [c for c in course.read(course.solution_path(lesson)).cells if course.is_export(c)]
    headers = [line for line in course.reference_path(lesson).read_text().split("\n") if line.startswith("# %% ")]
    assert headers == [reference_code.cell_header(c) for c in cells]
    assert all(c.get("id") in header for c, header in zip(cells, headers))


PRUNE = [
    ("import math\nimport torch\n\nx = torch.zeros(1)\n", "import torch\n\nx = torch.zeros(1)\n"),
    ("import torch.nn.functional as F\nimport matplotlib.pyplot as plt\nF.relu\n",
     "import torch.nn.functional as F\nF.relu\n"),
    ("from __future__ import annotations\nfrom typing import Callable, Mapping\n\nf: Callable = len\n",
     "from __future__ import annotations\nfrom typing import Callable\n\nf: Callable = len\n"),
    ("import os\n\nimport numpy\n\nfrom a import b\n\n\ndef f():\n    return b\n",
     "from a import b\n\n\ndef f():\n    return b\n"),
]


@pytest.mark.parametrize(("source", "pruned"), PRUNE, ids=["module", "alias", "from-import", "whole groups"])
def test_prune_imports_keeps_exactly_the_names_in_use(source, pruned):
    """Are unused imports dropped, aliases and `from __future__` understood, and emptied groups closed up?"""
    assert reference_code.prune_imports(source) == pruned


def test_a_long_from_import_is_wrapped_within_the_line_length():
    """Does a pruned import that no longer fits on a line wrap in parentheses, every line within 120?"""
    names = [f"name_number_{i}" for i in range(12)]
    source = f"from some.module import {', '.join(names)}, unused\n" + "\n".join(names) + "\n"
    head = reference_code.prune_imports(source).split("\nname_number_0")[0]
    assert "unused" not in head and all(len(line) <= reference_code.LINE_LENGTH for line in head.split("\n"))
    assert ast.parse(head).body[0].names[-1].name == "name_number_11"
