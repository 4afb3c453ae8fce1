"""The integrity guard inside a grading kernel, on edge cases the cheat bank does not cover: does it see
a patch that is undone before grading looks, and leave alone what libraries and the course do themselves?
Each notebook is graded in-process through the guard (cheats.run), in a child of its own."""
import pytest

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.integrity import ERROR
from ddpm_course.instructor.qa import bank, cheats

FIRST = course.lessons()[0]

CASES = {  # name: (cell added after the imports, whether the notebook keeps full marks)
    "a patch undone in the same cell": ("""\
import torch
_original = torch.allclose
torch.allclose = lambda *args, **kwargs: True
torch.allclose = _original""", False),
    "a check's code swapped and swapped back": ("""\
from ddpm_course.l1_blocks import checks
_code = checks.groupnorm.__code__
checks.groupnorm.__code__ = (lambda *args: None).__code__
checks.groupnorm.__code__ = _code""", False),
    "the student's own wrapper around a torch function": ("""\
import functools, torch
torch.manual_seed = functools.wraps(torch.manual_seed)(lambda seed: None)""", False),
    "torch's own wrapper around a torch function (as torch._dynamo does on import)": ("""\
import torch
torch.manual_seed = torch._disable_dynamo(torch.manual_seed)""", True),
    "a global forward hook": ("""\
import torch
torch.nn.modules.module.register_module_forward_hook(lambda module, args, output: output)""", False),
    "gc.get_objects": ("import gc\n_everything = gc.get_objects()", False),
    "the student's names shadowing the course's (their own checks, run_hidden, torch)": ("""\
def run_hidden(*args):
    return None


class checks:
    pass


torch = None
import torch""", True),
    "a later lesson's reference, which re-exports this lesson's answers": (
        "from ddpm_course.l2_unet.reference import SelfAttention", False),
    "reading the previous lesson's reference, as lesson notebooks do": (
        "from ddpm_course.l1_blocks.reference import SelfAttention", True),
}


@pytest.fixture(scope="module")
def graded() -> dict:
    """Each case in lesson 1's correct notebook, but the previous lesson's reference in lesson 2's."""
    lessons = [course.lessons()[1] if "previous lesson" in name else FIRST for name in CASES]
    jobs = [(lesson, cheats.with_cells(bank.submission(lesson), code), True)
            for lesson, (code, _) in zip(lessons, CASES.values())]
    return dict(zip(CASES, cheats.run(jobs)))


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_the_guard_sees_patches_and_leaves_honest_code_alone(name, graded):
    """Does a patch score 0 with GradingIntegrityError even when undone in time, and honest code keep every point?"""
    results = graded[name]
    if CASES[name][1]:
        assert all(passed for passed, _ in results.values()), results
    else:
        assert not any(passed for passed, _ in results.values())
        assert all(ERROR in message for _, message in results.values()), results
