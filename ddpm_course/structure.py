"""Structure checks, part of the check framework: build a module reproducibly, check that each
layer is configured as a docstring prescribes, and count parameters.

Checking the configuration first means a wrong kernel size or group count is reported by
name, instead of surfacing later as a size mismatch or a value that differs.
"""
from __future__ import annotations

import torch
from torch import nn

from ddpm_course.checking import fail, seeded


def build(cls, *args, seed: int, what: str, **kwargs) -> nn.Module:
    """cls(*args, **kwargs), initialised from a fixed seed without touching the global RNG."""
    with torch.random.fork_rng():
        # the CPU generator alone: torch.manual_seed also queues seeds for every accelerator
        # backend, which costs more than building these small modules
        torch.default_generator.manual_seed(seed)
        module = cls(*args, **kwargs)
    if not isinstance(module, nn.Module):
        fail(f"{what} should be an nn.Module, got {type(module).__name__}")
    return module


def perturb(module: nn.Module, seed: int) -> None:
    """Move every parameter off its initial value: GroupNorm's weight 1 and bias 0 would hide mistakes."""
    params = list(module.parameters())
    noise = torch.randn(sum(p.numel() for p in params), generator=seeded(seed)) * 0.1
    with torch.no_grad():
        for p, delta in zip(params, noise.split([p.numel() for p in params])):
            p.add_(delta.view_as(p))


def _padding(layer: nn.Module) -> tuple:
    """A conv's padding as a tuple; 'same' (stride 1, odd kernel) is k // 2 on each side."""
    if layer.padding == "same":
        return tuple(k // 2 for k in layer.kernel_size)
    return tuple(layer.padding)


def expect_conv(parent: nn.Module, name: str, what: str, cin: int, cout: int, kernel: int, stride: int = 1,
                padding: int = 0, kind: type = nn.Conv2d, hint: str | None = None) -> nn.Module:
    """Fail unless parent.<name> is kind(cin, cout, kernel, stride, padding)."""
    layer = getattr(parent, name, None)
    kind_name = f"nn.{kind.__name__}"
    wanted = f"{kind_name}({cin}, {cout}, kernel_size={kernel}" + (f", stride={stride}" if stride != 1 else "") \
        + (f", padding={padding}" if padding else "") + ")"
    if not isinstance(layer, kind):
        fail(f"{what}.{name} should be {wanted}, found {describe(layer)}", hint)
    found = (layer.in_channels, layer.out_channels, tuple(layer.kernel_size), tuple(layer.stride), _padding(layer))
    if found != (cin, cout, (kernel, kernel), (stride, stride), (padding, padding)):
        fail(f"{what}.{name} should be {wanted}, found {layer!r}", hint)
    return layer


def expect_groupnorm(parent: nn.Module, name: str, what: str, groups: int, channels: int,
                     hint: str | None = None) -> nn.Module:
    """Fail unless parent.<name> is nn.GroupNorm(groups, channels)."""
    layer = getattr(parent, name, None)
    if not isinstance(layer, nn.GroupNorm):
        fail(f"{what}.{name} should be nn.GroupNorm({groups}, {channels}), found {describe(layer)}", hint)
    if layer.num_channels != channels:
        fail(f"{what}.{name} should normalise {channels} channels: nn.GroupNorm({groups}, {channels}), found "
             f"{layer!r}", hint)
    if layer.num_groups != groups:
        fail(f"{what}.{name} should be nn.GroupNorm({groups}, {channels}) with {groups} group{'s' * (groups != 1)}, "
             f"found nn.GroupNorm({layer.num_groups}, {channels})",
             hint or "the first argument of nn.GroupNorm is the number of groups")
    return layer


def expect_linear_layer(layer, what: str, fan_in: int, fan_out: int, hint: str | None = None) -> nn.Module:
    if not isinstance(layer, nn.Linear) or (layer.in_features, layer.out_features) != (fan_in, fan_out):
        fail(f"{what} should be nn.Linear({fan_in}, {fan_out}), found {describe(layer)}", hint)
    return layer


def describe(module) -> str:
    """A one-line description of whatever was found where a layer was expected."""
    if module is None:
        return "nothing (no such attribute: keep the names from the docstring)"
    if not isinstance(module, nn.Module):
        return type(module).__name__
    text = " ".join(repr(module).split())
    return text if len(text) <= 120 else text[:117] + "..."


def twin_repr(sub: nn.Module, *args) -> str:
    """The repr of a twin of `sub` built by its own class from these arguments: it shows the
    configuration of every layer. (Built on the CPU: the meta device's dispatch costs more than
    initialising these small layers.)"""
    with torch.random.fork_rng():
        return repr(type(sub)(*args))


def expect_built_as(sub, label: str, class_name: str, *args, hint: str | None = None) -> nn.Module:
    """Fail unless `sub` (found at `label`) is a `class_name` built as class_name(*args).

    The student's own class builds a twin with the prescribed arguments and the two reprs are
    compared, so this checks the arguments the block was built with, never the block itself
    (whose correctness is an earlier exercise's business).
    """
    call = f"{class_name}({', '.join(map(str, args))})"
    if type(sub).__name__ != class_name:
        fail(f"{label} should be {call}, found {describe(sub)}", hint)
    twin = twin_repr(sub, *args)
    if repr(sub) != twin:
        for got, wanted in zip(repr(sub).split("\n") + [""], twin.split("\n") + [""]):
            if got != wanted:
                break
        fail(f"{label} should be {call}, but it was built with other arguments: it has "
             f"'{got.strip()}' where {call} has '{wanted.strip()}'", hint)
    return sub


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_parameters(cin: int, cout: int, kernel: int) -> int:
    """Parameters of a square Conv2d (or ConvTranspose2d) with a bias."""
    return cin * cout * kernel * kernel + cout


def linear_parameters(fan_in: int, fan_out: int) -> int:
    """Parameters of a Linear with a bias."""
    return fan_in * fan_out + fan_out


def expect_parameter_count(module: nn.Module, expected: int, what: str, hint: str | None = None) -> None:
    """Fail unless the module has `expected` parameters; name the convolutions built without a bias.
    `hint` replaces the generic hint."""
    got = parameters(module)
    if got == expected:
        return
    no_bias = {name: m.out_channels for name, m in module.named_modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is None}
    if no_bias and expected - got == sum(no_bias.values()):
        hint = (f"the difference is exactly the biases of the convolutions built with bias=False "
                f"({', '.join(no_bias)}): keep the default bias=True, as the reference does")
    elif hint is None and got > expected:
        hint = "there are parameters the docstring does not list: a layer too many, or a wider one"
    elif hint is None:
        hint = "compare each layer's channel counts and kernel size with the docstring"
    fail(f"{what} has {got:,} parameters, expected {expected:,} ({got - expected:+,})", hint)
