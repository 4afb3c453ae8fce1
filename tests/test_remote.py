"""The checker's proxies of the student's objects (grading/remote.py), against an agent of this process: do the
checks see what they would see in-process (classes, isinstance, attributes, calls, the random state, generators,
tensors changed in place, gradients), and can nothing but data and fakes reach the student's code?"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ddpm_course import checking
from ddpm_course.checking import CheckFailure, forbid_ops
from ddpm_course.executor import wire
from ddpm_course.instructor.grading import remote
from ddpm_course.l3_diffusion import fakes


class Scale(nn.Conv2d):
    """A student's module: a 1x1 convolution that also counts its calls."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().forward(x)


def student_namespace() -> dict:
    def draw(shape, generator=None):
        return torch.randn(shape, generator=generator)

    def in_place(x):
        x.add_(1)
        return x

    def shout(message):
        raise ValueError(message * 200)

    def uses_group_norm(x):
        return torch.nn.functional.group_norm(x, 1)

    return {"Scale": Scale, "draw": draw, "in_place": in_place, "shout": shout, "uses_group_norm": uses_group_norm,
            "value": 3, "items": [1, 2.5, "x"]}


@pytest.fixture
def session() -> remote.Session:
    return remote.loopback(student_namespace())


def test_a_students_module_is_an_instance_of_its_torch_class_named_as_the_students(session):
    """Is the proxy of a Scale an nn.Conv2d and an nn.Module whose type is named Scale, with its attributes, its
    state dict and its repr, and does type(proxy)(...) build another one over there?"""
    Scale = session.name("Scale")
    module = Scale(4)
    assert isinstance(module, nn.Conv2d) and isinstance(module, nn.Module) and type(module).__name__ == "Scale"
    assert (module.in_channels, tuple(module.kernel_size), module.calls) == (4, (1, 1), 0)
    assert sorted(module.state_dict()) == ["bias", "weight"] and "Scale(" in repr(module)
    other = type(module)(2)
    assert type(other) is type(module) and other.in_channels == 2 and other is not module


def test_calls_and_attribute_writes_reach_the_students_object(session):
    """Does a call run over there (its count goes up), and a load_state_dict or an attribute set change it?"""
    module = session.name("Scale")(3)
    module(torch.zeros(1, 3, 2, 2))
    assert module.calls == 1
    module.load_state_dict({"weight": torch.ones(3, 3, 1, 1), "bias": torch.zeros(3)})
    module.calls = 10
    assert torch.equal(module(torch.ones(1, 3, 1, 1)), torch.full((1, 3, 1, 1), 3.0)) and module.calls == 11


def test_the_global_random_state_and_generators_follow_the_students_draws(session):
    """Does the student's draw from the global generator advance the checker's, as in-process, and a seeded
    generator come back in the state the student's draws left it?"""
    draw = session.name("draw")
    torch.manual_seed(0)
    got = draw((3,))
    assert torch.equal(got, torch.randn(3, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(torch.randn(2), torch.randn(5, generator=torch.Generator().manual_seed(0))[3:])
    generator = torch.Generator().manual_seed(5)
    first = draw((2,), generator=generator)
    assert torch.equal(torch.cat([first, torch.randn(2, generator=generator)]),
                       torch.randn(4, generator=torch.Generator().manual_seed(5)))


def test_a_tensor_changed_in_place_is_changed_here_and_an_argument_returned_is_the_same_object(session):
    """Does the student's x.add_(1) change the checker's tensor, and `return x` give back the checker's own x?"""
    x = torch.zeros(2)
    out = session.name("in_place")(x)
    assert out is x and torch.equal(x, torch.ones(2))


def test_gradients_flow_back_into_the_students_parameters_and_the_checkers_inputs(session):
    """Does a backward pass through a result reach the student's parameters over there, and the checker's input?"""
    module = session.name("Scale")(2)
    x = torch.randn(1, 2, 3, 3, requires_grad=True)
    out = module(x)
    assert out.requires_grad
    out.sum().backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    assert grads["bias"] is not None and torch.equal(grads["bias"], torch.full((2,), 9.0))
    assert x.grad is not None and x.grad.shape == x.shape


def test_the_students_exceptions_keep_their_type_and_a_capped_message(session):
    """Does a ValueError stay a ValueError (a check may catch it), its message cut to 300 characters, with the
    line of the student's code that raised it?"""
    with pytest.raises(ValueError) as caught:
        session.name("shout")("ab")
    assert len(str(caught.value)) <= 310 and "shout()" in caught.value.__ddpm_where__
    with pytest.raises(NameError):
        session.name("undefined_anywhere")


def test_forbidden_ops_are_forbidden_over_there(session):
    """Does forbid_ops in the check forbid the op in the student's process, with the check's message?"""
    with forbid_ops({"group_norm": "no built-in group norm"}), pytest.raises(CheckFailure, match="no built-in"):
        session.name("uses_group_norm")(torch.randn(1, 2, 3, 3))
    assert session.forbade


def test_data_comes_by_value_and_nothing_but_data_fakes_and_generators_go(session):
    """Is a list of data a list here, and is a checker function refused, while a fake is built over there?"""
    assert session.name("items") == [1, 2.5, "x"] and session.name("value") == 3
    with pytest.raises(wire.Unsendable):
        session.name("draw")(lambda: None)
    twin = session.lend(fakes.FakeDenoiser(5))
    assert type(twin).__name__ == "FakeDenoiser" and twin.max_steps == 5 and twin.calls == []


def test_lend_is_the_stand_in_itself_in_process():
    """In the student's own session (no grading), is a lent stand-in the object itself?"""
    fake = fakes.FakeDenoiser(3)
    assert checking.lend(fake) is fake
