"""The executor's sandbox (grading/sandbox.py): does it hold exactly the executor's files, pass a kernel no secret
of the grader's environment, and, under bubblewrap, keep the course and the network out of reach?"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ddpm_course.instructor import course, roles
from ddpm_course.instructor.grading import sandbox

LESSONS = course.lessons()


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_tree_holds_the_executors_files_and_nothing_else(lesson, tmp_path):
    """Does the executor tree of a lesson hold exactly the role table's executor files (no reference of the lesson,
    no hidden check, no closed form), readable by all and writable by none but its owner?"""
    tree = sandbox.build_tree(lesson, tmp_path / "tree")
    files = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    assert files == {p.relative_to(course.ROOT).as_posix() for p in roles.package_files(lesson, roles.EXECUTOR)}
    assert not {f"ddpm_course/{lesson}/reference.py", f"ddpm_course/{lesson}/hidden.py",
                f"ddpm_course/{lesson}/closed_forms.py"} & files
    assert all(oct(p.stat().st_mode)[-3:] in ("644", "755") for p in tree.rglob("*"))


def test_a_kernel_gets_no_secret_of_the_graders_environment(monkeypatch):
    """Does the kernel's environment keep PATH, the locale and the course's settings, and drop the rest (tokens,
    the grader's paths)?"""
    manager = sandbox.SandboxedKernelManager(tree="/nonexistent")
    captured = {}

    async def fake_start(self, **kwargs):
        captured.update(kwargs["env"])

    monkeypatch.setattr(sandbox.LimitedKernelManager, "start_kernel", fake_start)
    env = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "DDPM_COURSE_QUICK": "1", "GITHUB_TOKEN": "secret",
           "DDPM_GRADER_TOKEN": "secret", "PYTHONPATH": "/course", "AWS_SECRET_ACCESS_KEY": "secret"}
    import asyncio
    asyncio.run(manager.start_kernel(env=env))
    assert {"PATH", "LANG", "DDPM_COURSE_QUICK"} <= set(captured) and "secret" not in captured.values()
    assert captured["PYTHONPATH"] != "/course"


def test_isolation_is_one_of_three_and_can_be_chosen(monkeypatch):
    """Is the isolation bwrap, uid or none, and does DDPM_SANDBOX choose it (for tests and graders who must)?"""
    assert sandbox.isolation() in sandbox.ISOLATIONS
    monkeypatch.setenv("DDPM_SANDBOX", "none")
    sandbox.isolation.cache_clear()
    try:
        assert sandbox.isolation() == "none"
    finally:
        monkeypatch.delenv("DDPM_SANDBOX")
        sandbox.isolation.cache_clear()


@pytest.mark.skipif(sandbox.isolation() != "bwrap", reason="bubblewrap's namespaces are not available here")
def test_inside_bubblewrap_the_course_files_and_the_network_are_out_of_reach(tmp_path):
    """In the sandbox a kernel runs in, can Python start, but neither read the course nor open a connection?"""
    probe = ("import os, socket\n"
             f"print(os.path.exists({str(course.reference_path(LESSONS[0]))!r}))\n"
             "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('online')\n"
             "except OSError:\n    print('offline')\n")
    result = subprocess.run([*sandbox.bwrap_base(), sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, env={"PATH": os.environ["PATH"]})
    assert result.stdout.split() == ["False", "offline"], result.stderr


def test_a_kernel_has_paid_for_the_meta_device_before_the_first_cell(tmp_path):
    """Has the executor's kernel run its first meta-device op (the import of sympy and torch's meta registrations,
    seconds under load) before the notebook's first cell, so that no graded cell pays it against its time limit,
    and left no name in the notebook's namespace, not even `_`?"""
    import nbformat
    from nbclient import NotebookClient

    probe = "import sys\nprint('sympy' in sys.modules, 'torch' in dir(), repr(_))"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    sandbox.give_to_kernel(str(runtime))
    manager = sandbox.SandboxedKernelManager(tree=str(sandbox.build_tree(LESSONS[0], tmp_path / "tree")),
                                             runtime=str(runtime), memory_mb=0)
    NotebookClient(notebook, km=manager, timeout=60).execute()
    assert notebook.cells[0].outputs[0]["text"] == "True False ''\n"
