"""Layer checks, part of the check framework: build a module reproducibly, check that each
layer is configured as a docstring prescribes, and count parameters.

Checking the configuration first means a wrong kernel size or group count is reported by
name, instead of surfacing later as a size mismatch or a value that differs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddpm_course.checking import expect_close, fail, seeded


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
    """Move every parameter off its initial value: GroupNorm's weight 1 and bias 0 would hide mistakes.
    Through state_dict and load_state_dict, never in place: while grading, the module is the student's, in another
    process, and its parameters here are copies."""
    names = [name for name, _ in module.named_parameters()]
    state = module.state_dict()
    sizes = [state[name].numel() for name in names]
    noise = torch.randn(sum(sizes), generator=seeded(seed)) * 0.1
    for name, delta in zip(names, noise.split(sizes)):
        state[name] = state[name] + delta.view_as(state[name])
    module.load_state_dict(state)


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


def _probe(channels: int) -> torch.Tensor:
    return torch.randn(2, channels, 3, 4, generator=seeded(0)) * 3 + 1


def acts_as_groupnorm(layer: nn.Module, channels: int, eps: float = 1e-5) -> int | None:
    """The group count g for which `layer` acts as nn.GroupNorm(g, channels) with its own weight and bias
    on a probe input, or None: a student's own GroupNorm passes where torch's would."""
    weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
    if not all(p is None or (isinstance(p, torch.Tensor) and p.shape == (channels,)) for p in (weight, bias)):
        return None
    x = _probe(channels)
    try:
        with torch.no_grad():
            out = layer(x)
    except Exception:  # whatever it raises, it does not act as a GroupNorm of this width
        return None
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return None
    weight, bias = (None if p is None else p.detach() for p in (weight, bias))
    return next((g for g in range(1, channels + 1) if channels % g == 0 and torch.allclose(
        out, F.group_norm(x, g, weight, bias, getattr(layer, "eps", eps)), atol=1e-4, rtol=1e-4)), None)


def expect_groupnorm(parent: nn.Module, name: str, what: str, groups: int, channels: int,
                     hint: str | None = None) -> nn.Module:
    """Fail unless parent.<name> is nn.GroupNorm(groups, channels), or a module that acts as one."""
    layer = getattr(parent, name, None)
    wanted = f"nn.GroupNorm({groups}, {channels})"
    if isinstance(layer, nn.GroupNorm):
        if layer.num_channels != channels:
            fail(f"{what}.{name} should normalise {channels} channels: {wanted}, found {layer!r}", hint)
        found = layer.num_groups
    elif isinstance(layer, nn.Module):
        found = acts_as_groupnorm(layer, channels)
        if found is None:
            fail(f"{what}.{name} should be {wanted} or act as one; found your own {type(layer).__name__}, which on a "
                 f"probe input of {channels} channels gives other values than any nn.GroupNorm(g, {channels})", hint)
    else:
        fail(f"{what}.{name} should be {wanted}, found {describe(layer)}", hint)
    if found != groups:
        found_as = (f"nn.GroupNorm({found}, {channels})" if isinstance(layer, nn.GroupNorm) else
                    f"your own {type(layer).__name__}, which acts as nn.GroupNorm({found}, {channels})")
        fail(f"{what}.{name} should be {wanted} with {groups} group{'s' * (groups != 1)}, found {found_as}",
             hint or "the first argument of nn.GroupNorm is the number of groups")
    return layer


def acts_as_silu(module) -> bool:
    """Whether `module` is nn.SiLU or acts as one on a probe input, as a student's own SiLU does."""
    if isinstance(module, nn.SiLU):
        return True
    if not isinstance(module, nn.Module) or list(module.parameters()):
        return False
    x = torch.linspace(-6, 6, 25)
    try:
        with torch.no_grad():
            out = module(x)
    except Exception:  # whatever it raises, it is no SiLU
        return False
    return isinstance(out, torch.Tensor) and out.shape == x.shape and torch.allclose(out, F.silu(x), atol=1e-5)


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
    if len(text) <= 120:
        return text
    # cut in the middle, never at the end: how many children there were must stay visible
    children = f", {len(module)} children" if isinstance(module, (nn.ModuleList, nn.Sequential)) else ""
    return f"{text[:60]} ... {text[-25:]} ({type(module).__name__}{children})"


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


def expect_repeatable(module: nn.Module, *inputs: torch.Tensor) -> None:
    """Fail unless calling the module twice on the same inputs leaves them unchanged and gives the same
    output: a module that writes into its input, or keeps state on self, is right on its first call only."""
    kept = [x.clone() for x in inputs]
    with torch.no_grad():
        first = module(*inputs)
        if any(not torch.equal(x, k) for x, k in zip(inputs, kept)):
            fail("the call changed its input in place: calling it twice on the same input gives two answers",
                 "write new tensors (h = x + ...) instead of updating the input in place (x += ..., x.add_(...))")
        second = module(*inputs)
    pairs = zip(first, second) if isinstance(first, tuple) and isinstance(second, tuple) else [(first, second)]
    for got, expected in pairs:
        if isinstance(expected, torch.Tensor):
            expect_close(got, expected, "the output of a second call on the same input", atol=1e-6,
                         hint="forward must not depend on earlier calls: keep no state on self between calls")


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
