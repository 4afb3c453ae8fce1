"""The snapshot of what grading relies on, in this process: does inspect() name each change and undo it,
and let alone what libraries do on their own? (test_guard.py and test_cheats.py arm the whole guard.)"""
import sys
import threading
import types

import pytest
import torch

from ddpm_course import checking
from ddpm_course.instructor.grading import snapshot
from ddpm_course.l1_blocks import checks


class FakeShell:
    """Just what the snapshot reads of an IPython shell."""
    def __init__(self) -> None:
        for name in snapshot.SHELL_LISTS:
            setattr(self, name, [])

    def run_cell(self, source):
        return source


@pytest.fixture
def taken():
    return snapshot.Snapshot([checking, checks], FakeShell(), [])


def replace_allclose():
    torch.allclose = lambda *args, **kwargs: True


def swap_check_code():
    checks.groupnorm.__wrapped__.__code__ = (lambda *args: None).__code__  # the check inside its decorator


def add_transformer(shell):
    shell.input_transformers_post.append(lambda lines: [])


def swap_sys_modules():
    sys.modules["ddpm_course.checking"] = types.ModuleType("fake")


def patch_tensor_method():
    torch.Tensor.double = lambda self: self


def watched(shell) -> tuple:
    return (torch.allclose, checks.groupnorm.__wrapped__.__code__, sys.modules["ddpm_course.checking"],
            torch.Tensor.double, list(shell.input_transformers_post))


@pytest.mark.parametrize(("patch", "says"), [
    (replace_allclose, "torch.allclose was replaced"),
    (swap_check_code, "checks.groupnorm was changed"),
    (swap_sys_modules, "sys.modules['ddpm_course.checking'] was replaced"),
    (patch_tensor_method, "Tensor.double was changed"),
    (add_transformer, "IPython's input_transformers_post was changed"),
], ids=lambda value: getattr(value, "__name__", ""))
def test_a_change_is_named_and_undone(taken, patch, says):
    """Does inspect() name the change, put everything back, and find nothing the second time?"""
    before = watched(taken.shell)
    patch(taken.shell) if patch is add_transformer else patch()
    changed = taken.inspect()
    assert any(says in line for line in changed), changed
    assert watched(taken.shell) == before
    assert taken.inspect() == []


def test_what_libraries_do_themselves_is_not_a_change(taken):
    """Are a submodule import, torch's own wrapper of a torch function, and a copy cache left alone?"""
    original = torch.manual_seed
    torch.manual_seed = torch._disable_dynamo(original)
    try:
        import copy
        copy.deepcopy(torch.zeros(1))  # copyreg caches __slotnames__ on the class
        assert taken.inspect() == []
    finally:
        torch.manual_seed = original


def test_a_thread_counts_unless_it_runs_only_library_code():
    """Is a thread whose target is the student's code told apart from one that runs only library code?"""
    def students():
        pass
    assert not snapshot.library_thread(threading.Thread(target=students))
    assert not snapshot.library_thread(threading.Timer(1, setattr))  # a builtin could patch anything
    assert snapshot.library_thread(threading.Thread(target=threading.Event().wait))
