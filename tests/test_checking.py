"""The check framework: do failures reach students cleanly, and are its guards hard to fool?"""
import re
import sys
import traceback
from pathlib import PurePosixPath, PureWindowsPath

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ddpm_course import checking
from ddpm_course.checking import CheckFailure, case, check, copy_weights, expect_close, forbid_ops, run_hidden
from ddpm_course.l1_blocks import checks, reference


class UnbiasedGroupNorm(reference.GroupNorm):
    def forward(self, x):
        groups = x.reshape(x.shape[0], self.num_groups, -1)
        out = (groups - groups.mean(-1, keepdim=True)) / torch.sqrt(groups.var(-1, keepdim=True) + self.eps)
        out = out.reshape(x.shape)
        return out * self.weight[:, None, None] + self.bias[:, None, None] if self.affine else out


def test_a_hidden_failure_shows_no_frame_of_the_hidden_module():
    """Does a failing hidden check raise one CheckFailure whose traceback never enters hidden.py?"""
    with pytest.raises(CheckFailure) as info:
        run_hidden("l1_blocks", "groupnorm", UnbiasedGroupNorm)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert not [f for f in frames if f.filename.endswith("hidden.py")]
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert "unbiased" in str(info.value)


def test_a_student_exception_names_the_case_and_the_students_line():
    """When student code raises, does the message name the case, the exception and the student's line?"""
    def student_forward(x):
        return x.view(-1, 7)

    @check("Demo")
    def demo():
        with case("odd sizes"):
            student_forward(torch.zeros(2, 3))

    with pytest.raises(CheckFailure) as info:
        demo()
    message = str(info.value)
    assert message.startswith("Demo: case [odd sizes]: your code raised RuntimeError")
    assert "return x.view(-1, 7)" in message


def test_a_matching_variant_replaces_the_generic_hint():
    """When the output equals a known mistake's output, does the hint name that mistake?"""
    expected, mistake = torch.ones(3), torch.zeros(3)
    with pytest.raises(CheckFailure, match="Hint: you returned zeros"):
        expect_close(mistake, expected, hint="generic", variants=[(torch.full((3,), 2.0), "twos"),
                                                                  (torch.zeros(3), "you returned zeros")])
    with pytest.raises(CheckFailure, match="Hint: generic"):
        expect_close(torch.full((3,), 5.0), expected, hint="generic", variants=[(mistake, "you returned zeros")])


class AgreeableTensor(torch.Tensor):
    """A cheat's output: a tensor subclass that makes every comparison agree."""
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.Tensor.allclose, torch.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("got", [torch.zeros(3).as_subclass(AgreeableTensor), nn.Parameter(torch.ones(3))],
                         ids=["subclass", "parameter"])
def test_only_plain_tensors_and_parameters_are_compared(got):
    """Is an output that redefines comparison rejected by name, while a Parameter is compared as a tensor?"""
    if type(got) is AgreeableTensor:
        with pytest.raises(CheckFailure, match="plain torch.Tensor, got the subclass AgreeableTensor"):
            expect_close(got, torch.ones(3))
    else:
        expect_close(got, torch.ones(3))


@pytest.mark.parametrize("shape", [(2, 3), (3, 2, 1)])
def test_a_wrong_shape_is_reported_before_values(shape):
    """Does a shape mismatch say expected vs got shapes instead of crashing on the comparison?"""
    with pytest.raises(CheckFailure, match=r"expected \(2, 3, 1\), got"):
        expect_close(torch.zeros(shape) if shape != (2, 3) else torch.zeros(2, 3), torch.zeros(2, 3, 1))


@pytest.mark.parametrize("route", [
    lambda x: F.group_norm(x, 2),
    lambda x: nn.GroupNorm(2, 4)(x),
    lambda x: torch.group_norm(x, 2),
    lambda x: torch.ops.aten.native_group_norm(x, None, None, 2, 4, 9, 2, 1e-5)[0],
], ids=["functional", "module", "torch", "aten"])
def test_every_route_to_a_forbidden_op_is_caught(route):
    """Does forbid_ops catch the built-in group norm however it is reached?"""
    with pytest.raises(CheckFailure, match="from scratch"):
        with forbid_ops(checks.GROUPNORM_OPS):
            route(torch.randn(2, 4, 3, 3))


@pytest.mark.parametrize(("source", "target"), [
    (nn.Linear(4, 6), nn.Conv2d(4, 6, 1)),
    (nn.Conv2d(4, 6, 1), nn.Linear(4, 6)),
])
def test_copy_weights_accepts_linear_and_1x1_conv_layouts(source, target):
    """Can reference weights in one layout load into a student module in the other?"""
    copy_weights(target, source, "layer")
    x = torch.randn(3, 4)

    def as_conv(layer, t):
        return layer(t[:, :, None, None])[:, :, 0, 0] if isinstance(layer, nn.Conv2d) else layer(t)

    torch.testing.assert_close(as_conv(target, x), as_conv(source, x))


def test_copy_weights_names_missing_and_unexpected_attributes():
    """Does a renamed attribute produce a message listing what was expected and what was found?"""
    source, target = nn.Sequential(), nn.Sequential()
    source.to_q = nn.Linear(2, 2)
    target.query = nn.Linear(2, 2)
    with pytest.raises(CheckFailure, match=r"missing: \['to_q.bias', 'to_q.weight'\]") as info:
        copy_weights(target, source, "SelfAttention")
    assert "unexpected: ['query.bias', 'query.weight']" in str(info.value)


def test_hidden_checks_say_plainly_when_they_are_not_installed(monkeypatch):
    """Without the hidden module (a student copy), does run_hidden fail with a plain sentence?"""
    monkeypatch.setitem(sys.modules, "ddpm_course.l1_blocks.hidden", None)
    with pytest.raises(CheckFailure, match="only available when the instructor grades"):
        run_hidden("l1_blocks", "groupnorm", reference.GroupNorm)


@pytest.mark.parametrize(("name", "args"), [
    ("groupnorm", (reference.GroupNorm,)),
    ("swish", (reference.swish, reference.SiLU)),
    ("sinusoidal", (reference.SinusoidalPositionEmbeddings,)),
    ("attention", (reference.SelfAttention,)),
])
def test_checks_leave_the_students_random_state_alone(name, args):
    """Does running a check, visible and hidden, leave the global RNG exactly as it was?"""
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    getattr(checks, name)(*args)
    run_hidden("l1_blocks", name, *args)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_a_passing_check_prints_one_line(capsys):
    """Does a passing check print a single '✓ ... passed' line with its case count?"""
    checks.swish(reference.swish, reference.SiLU)
    out = capsys.readouterr().out.strip().split("\n")
    assert len(out) == 1 and out[0].startswith("✓ swish and SiLU: passed (6 cases)")


def test_case_descriptions_reach_the_message():
    """Is the failing case's description part of the message, so students know which input broke?"""
    @checking.check("Demo")
    def demo():
        with case("batch 1"):
            checking.fail("values differ", "look here")

    with pytest.raises(CheckFailure, match=r"^Demo: case \[batch 1\]: values differ\n  Hint: look here$"):
        demo()


def test_a_check_calling_another_prints_times_and_titles_once(capsys):
    """When one check calls another, is there one line, one title, and a count of every case of both?"""
    @check("Inner")
    def inner(n):
        for i in range(n):
            with case(f"inner {i}"):
                pass

    @check("Outer")
    def outer():
        inner(2)
        with case("outer"):
            with case("nested: not a case of its own"):
                pass

    outer()
    out = capsys.readouterr().out.strip().split("\n")
    assert len(out) == 1 and out[0].startswith("✓ Outer: passed (3 cases)")


def test_a_failure_in_a_called_check_is_titled_by_the_caller():
    """Does a failure inside a called check carry the caller's title, once?"""
    @check("Inner")
    def inner():
        with case("inner case"):
            checking.fail("wrong")

    @check("Outer")
    def outer():
        inner()

    with pytest.raises(CheckFailure, match=r"^Outer: case \[inner case\]: wrong$"):
        outer()


@pytest.mark.parametrize(("package", "filename", "internal"), [
    (PurePosixPath("/venv/lib/ddpm_course"), "/venv/lib/ddpm_course/l1_blocks/checks.py", True),
    (PurePosixPath("/venv/lib/ddpm_course"), "/venv/lib/torch/nn/modules/module.py", True),
    (PurePosixPath("/venv/lib/ddpm_course"), "/tmp/ipykernel_1/123.py", False),
    (PureWindowsPath(r"C:\course\ddpm_course"), r"C:\course\ddpm_course\checking.py", True),
    (PureWindowsPath(r"C:\course\ddpm_course"), r"C:\venv\Lib\site-packages\torch\functional.py", True),
    (PureWindowsPath(r"C:\course\ddpm_course"), r"C:\Python311\Lib\contextlib.py", True),
    (PureWindowsPath(r"C:\course\ddpm_course"), r"C:\Users\me\AppData\Local\Temp\ipykernel_9\1.py", False),
])
def test_traceback_trimming_reads_posix_and_windows_paths(package, filename, internal):
    """Are checker frames told from the student's by path parts, on POSIX and on Windows alike?"""
    assert checking.is_checker_frame(filename, package) is internal


def test_a_near_miss_shows_expected_and_got_apart():
    """When got and expected agree to five digits, does the message show enough digits to tell them apart?"""
    with pytest.raises(CheckFailure) as info:
        checking.expect_close(torch.tensor([0.2957412]), torch.tensor([0.2957405], dtype=torch.float64), atol=1e-8,
                              rtol=0)
    shown = re.search(r"expected (\S+), got (\S+)", str(info.value)).groups()
    assert shown[0] != shown[1], shown


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4), (1, 5, 1, 2)])
def test_unravel_finds_the_element_of_a_flat_index(shape):
    """Does unravel (by hand, so no sympy import on a first failure) give the index of the flat argmax?"""
    values = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    flat = int(values.argmax())
    assert values[checking.unravel(flat, values.shape)] == values.max()


def helper_for_standing_in() -> str:
    return "the student's helper"


@torch.no_grad()
def decorated_caller() -> str:
    return helper_for_standing_in()


def test_standing_in_reaches_through_a_decorator():
    """Does a stand-in replace the name that a decorated function (@torch.no_grad()) calls, in the function's own
    module rather than the decorator's, and is the name restored afterwards?"""
    with checking.standing_in(decorated_caller, helper_for_standing_in=lambda: "the stand-in"):
        assert decorated_caller() == "the stand-in"
    assert decorated_caller() == "the student's helper"
