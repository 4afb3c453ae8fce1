"""Visible checks of lesson 1. They compare with torch's own ops, so they need no reference code.

Each check takes the student's class or function. `cases` lets the hidden checks rerun the
same logic on more cases; `variants` helpers compute what a known mistake would output, so
the failure hint can name the mistake.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ddpm_course.checking import case, check, expect_close, expect_tensor, fail, forbid_ops, forbid_submodules, seeded


GROUPNORM_SHORTCUT = ("GroupNorm must be computed from scratch, but your code called torch's built-in "
                      "group norm (nn.GroupNorm / F.group_norm)")
GROUPNORM_OPS = {"group_norm": GROUPNORM_SHORTCUT}
SILU_SHORTCUT = "swish must be computed from scratch, but your code called torch's built-in silu (F.silu / nn.SiLU)"
ATTENTION_SHORTCUT = ("SelfAttention must be computed with einsum/matmul, but your code called torch's fused "
                      "attention (F.scaled_dot_product_attention / nn.MultiheadAttention)")
ATTENTION_OPS = {"scaled_dot_product": ATTENTION_SHORTCUT, "multi_head_attention": ATTENTION_SHORTCUT}

# (batch, channels, groups, height, width, affine, input scale, input offset)
GROUPNORM_CASES = [
    (2, 6, 3, 5, 7, True, 3.0, 2.0),
    (1, 4, 2, 3, 3, False, 1e-3, 0.0),
]


def groupnorm_variants(x: torch.Tensor, groups: int, eps: float, weight, bias) -> list[tuple[torch.Tensor, str]]:
    """What common GroupNorm mistakes output, each with the hint that names the mistake."""
    B, C, H, W = x.shape
    n = C // groups * H * W
    grouped = rearrange(x, "b (g c) h w -> b g (c h w)", g=groups)
    centred = grouped - grouped.mean(-1, keepdim=True)
    std_plus_eps = rearrange(centred / (grouped.std(-1, unbiased=False, keepdim=True) + eps),
                             "b g (c h w) -> b (g c) h w", h=H, w=W)
    batch_mean = rearrange((grouped - grouped.mean(dim=(0, 2), keepdim=True))
                           / torch.sqrt(grouped.var(-1, unbiased=False, keepdim=True) + eps),
                           "b g (c h w) -> b (g c) h w", h=H, w=W)
    interleaved = rearrange(F.group_norm(rearrange(x, "b (c g) h w -> b (g c) h w", g=groups), groups, eps=eps),
                            "b (g c) h w -> b (c g) h w", g=groups)
    raw = [
        (F.group_norm(x, groups, eps=eps * (n - 1) / n) * math.sqrt((n - 1) / n),
         "you used the unbiased variance (dividing by N-1); GroupNorm divides by N: var(..., unbiased=False)"),
        (std_plus_eps, "you added eps to the standard deviation; eps goes inside the square root: sqrt(var + eps)"),
        (F.group_norm(x, groups, eps=0.0), "you left out eps; divide by sqrt(var + eps)"),
        (batch_mean, "the statistics are per sample: your mean also averages over the batch"),
        (F.group_norm(x, C, eps=eps), "you normalised each channel on its own (InstanceNorm); "
                                      "statistics are shared by the C/G channels of a group"),
        (F.group_norm(x, 1, eps=eps), "you normalised over all channels at once (LayerNorm); use num_groups groups"),
        (interleaved, "your groups interleave channels; a group is C/G *consecutive* channels: "
                      "rearrange 'b (g c) h w', not 'b (c g) h w'"),
    ]
    if weight is None:
        return raw

    def affine(t: torch.Tensor) -> torch.Tensor:
        return t * rearrange(weight, "c -> c 1 1") + rearrange(bias, "c -> c 1 1")

    def swapped(t: torch.Tensor) -> torch.Tensor:
        return t * rearrange(bias, "c -> c 1 1") + rearrange(weight, "c -> c 1 1")

    plain = F.group_norm(x, groups, eps=eps)
    return [(affine(t), hint) for t, hint in raw] + [
        (plain, "you did not apply the affine weight and bias"),
        (swapped(plain), "weight and bias are swapped: y = normalised * weight + bias"),
    ]


def _check_groupnorm_parameters(GroupNorm, channels: int, groups: int, affine: bool) -> nn.Module:
    module = GroupNorm(groups, channels, affine=affine)
    if not isinstance(module, nn.Module):
        fail(f"GroupNorm(...) should be an nn.Module, got {type(module).__name__}")
    forbid_submodules(module, (nn.GroupNorm,), GROUPNORM_SHORTCUT)
    params = dict(module.named_parameters())
    if not affine:
        if params:
            fail(f"with affine=False there should be no parameters, found {sorted(params)}")
        return module
    for name, init in (("weight", 1.0), ("bias", 0.0)):
        if name not in params:
            fail(f"with affine=True, '{name}' should be an nn.Parameter, found parameters {sorted(params)}",
                 "wrap the tensor in nn.Parameter so the optimiser sees it")
        expect_tensor(params[name], (channels,), f"{name}", hint="one value per channel")
        expect_close(params[name], torch.full((channels,), init), f"{name} after __init__",
                     hint="reset_parameters() sets weight to 1 and bias to 0; call it from __init__")
    # by load_state_dict, never in place: while grading, the module is the student's and these are copies
    module.load_state_dict({"weight": torch.randn(channels, generator=seeded(1)),
                            "bias": torch.randn(channels, generator=seeded(2))})
    return module


GROUPNORM_STABILITY_HINT = ("E[x²] - E[x]² cancels catastrophically when the mean is large next to the spread: "
                            "compute the variance of the centred values, ((x - mean) ** 2).mean(), or "
                            "var(unbiased=False)")
DEVICE_HINT = ("create every tensor on the input's device (torch.arange(..., device=x.device)) and pass "
               "device=device on to the parameters: on a GPU, a tensor made on the CPU regardless fails the same way")

GRADIENT_HINT = ("the values are right but not the gradients: an in-place op (mul_, add_, +=) on a tensor that "
                 "autograd saved breaks backward, and a .detach(), .item() or torch.no_grad() cuts the graph; "
                 "write new tensors")


def on_meta(t) -> None:
    """Fail unless t is a tensor on the meta device."""
    if not isinstance(t, torch.Tensor):
        fail(f"output should be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "meta":
        fail(f"the input was on the meta device, but the output is on {t.device}", DEVICE_HINT)


def call_on_meta(fn, *args):
    """fn(*args) with inputs on the meta device: a tensor the code made on the CPU regardless fails to mix with
    them, as it would with a GPU's; say so with a hint, rather than pass on torch's bare RuntimeError."""
    try:
        return fn(*args)
    except (RuntimeError, NotImplementedError, TypeError) as err:  # NotImplementedError: .cpu() of a meta tensor
        if "device" not in str(err) and "meta" not in str(err):
            raise
        fail(f"on the meta device your code raised {type(err).__name__}: {err}",
             DEVICE_HINT + "; and move nothing to the CPU (.cpu(), .numpy()) inside forward")


def backward(loss: torch.Tensor) -> None:
    """loss.backward(), failing with a hint where backward through the student's code raises (an in-place op
    on a tensor autograd saved, a tensor made without its graph)."""
    try:
        loss.backward()
    except RuntimeError as err:
        fail(f"the values are right, but backward through your code raised RuntimeError: {err}", GRADIENT_HINT)


@torch.enable_grad()  # a student who switched gradients off to explore still gets this check right
def groupnorm_gradients(mine: nn.Module, groups: int, x: torch.Tensor, target: torch.Tensor, eps: float) -> None:
    """Backpropagate through the student's GroupNorm and through F.group_norm with the same weights; compare
    the gradients of the input, the weight and the bias."""
    weight, bias = (None if p is None else p.detach().clone().requires_grad_() for p in (mine.weight, mine.bias))
    x_mine, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    with forbid_ops(GROUPNORM_OPS):
        backward((mine(x_mine) * target).sum())
    (F.group_norm(x_theirs, groups, weight, bias, eps) * target).sum().backward()
    hint = GRADIENT_HINT
    expect_close(x_mine.grad, x_theirs.grad, "input gradient", atol=1e-4, hint=hint)
    if weight is not None:
        expect_close(mine.weight.grad, weight.grad, "weight gradient", atol=1e-4, hint=hint)
        expect_close(mine.bias.grad, bias.grad, "bias gradient", atol=1e-4, hint=hint)


@check("GroupNorm")
def groupnorm(GroupNorm, cases=GROUPNORM_CASES, eps: float = 1e-5, extras: bool = True) -> None:
    """`extras`: also the cases that vary no shape (eps given to the constructor, a second call, stability,
    gradients, dtype and device), which a hidden rerun on more shapes leaves out."""
    for seed, (B, C, G, H, W, affine, scale, offset) in enumerate(cases):
        desc = f"B={B}, C={C}, groups={G}, H={H}, W={W}, affine={affine}, input std {scale:g}"
        desc += f", eps={eps:g} (set on the module after building it)" if eps != 1e-5 else ""
        with case(desc):
            module = _check_groupnorm_parameters(GroupNorm, C, G, affine)
            module.eps = eps
            x = torch.randn(B, C, H, W, generator=seeded(seed)) * scale + offset
            with forbid_ops(GROUPNORM_OPS):
                got = module(x)
            weight = module.weight.detach() if affine else None
            bias = module.bias.detach() if affine else None
            expected = F.group_norm(x, G, weight, bias, eps)
            variants = groupnorm_variants(x, G, eps, weight, bias)
            if eps != 1e-5:
                variants.append((F.group_norm(x, G, weight, bias, 1e-5),
                                 f"your output matches eps=1e-5, but this module's eps is {eps:g}: use self.eps"))
            expect_close(got, expected, atol=1e-4, rtol=1e-4,
                         hint="compare your formula with the one above, term by term", variants=variants)
    if not extras:
        return
    with case("GroupNorm(2, 4, eps=1e-2, affine=False): eps given to the constructor, input std 0.01"):
        module = GroupNorm(2, 4, eps=1e-2, affine=False)
        x = torch.randn(2, 4, 3, 3, generator=seeded(20)) * 0.01
        with forbid_ops(GROUPNORM_OPS):
            got = module(x)
        expect_close(got, F.group_norm(x, 2, eps=1e-2), atol=1e-4, hint="compare your formula with the one above",
                     variants=[(F.group_norm(x, 2, eps=1e-5), "your output matches eps=1e-5, but this module was "
                                                              "built with eps=1e-2: use self.eps")])
    with case("second call: one GroupNorm(3, 6) on x, then on x * 10 + 3"):
        module = _check_groupnorm_parameters(GroupNorm, 6, 3, True)
        x = torch.randn(2, 6, 4, 3, generator=seeded(21))
        weight, bias = module.weight.detach(), module.bias.detach()
        for k, (label, inputs) in enumerate((("first call, on x", x), ("second call, on x * 10 + 3", x * 10 + 3))):
            with forbid_ops(GROUPNORM_OPS):
                got = module(inputs)
            expect_close(got, F.group_norm(inputs, 3, weight, bias), f"output of the {label}", atol=1e-4,
                         hint=None if k == 0 else "the statistics are the current input's: compute mean and var in "
                                                  "every forward, keep nothing from an earlier call on self")
    with case("numerically stable: input mean 100, std 0.01, B=2, C=6, groups=3 (float32)"):
        module = _check_groupnorm_parameters(GroupNorm, 6, 3, True)
        x = torch.randn(2, 6, 5, 7, generator=seeded(22)) * 0.01 + 100
        with forbid_ops(GROUPNORM_OPS):
            got = module(x)
        # float32 rounds x itself to 8e-6 of a spread of 0.01: the exact answer, to within that
        expected = F.group_norm(x.double(), 3, module.weight.detach().double(), module.bias.detach().double())
        expect_close(got, expected, atol=5e-3, rtol=5e-3, hint=GROUPNORM_STABILITY_HINT)
    with case("gradients: backward through GroupNorm(3, 6), compared with F.group_norm's"):
        module = _check_groupnorm_parameters(GroupNorm, 6, 3, True)
        groupnorm_gradients(module, 3, torch.randn(2, 6, 3, 4, generator=seeded(23)) * 2 + 1,
                            torch.randn(2, 6, 3, 4, generator=seeded(24)), 1e-5)
    with case("dtype: GroupNorm(2, 4, device='cpu', dtype=torch.float64), parameters made with that device and dtype"):
        module = GroupNorm(2, 4, device="cpu", dtype=torch.float64)
        for name in ("weight", "bias"):
            param = getattr(module, name, None)
            if isinstance(param, torch.Tensor) and param.dtype != torch.float64:
                fail(f"{name} is {param.dtype}, expected torch.float64: the dtype argument was ignored",
                     "pass device=device, dtype=dtype on to torch.empty/torch.ones, as nn.GroupNorm does")
        x = torch.randn(2, 4, 3, 3, generator=seeded(5), dtype=torch.float64)
        with forbid_ops(GROUPNORM_OPS):
            got = module(x)
        expect_tensor(got, x.shape, "output", dtype=torch.float64, hint="float64 in, float64 out")
        expect_close(got, F.group_norm(x, 2, module.weight.detach(), module.bias.detach()), atol=1e-10, rtol=1e-10,
                     hint="compute in the input's dtype: no .float() inside forward")
    with case("device: GroupNorm(2, 4, device='meta') on an input on the meta device"):
        module = GroupNorm(2, 4, device="meta")
        for name in ("weight", "bias"):
            param = getattr(module, name, None)
            if isinstance(param, torch.Tensor) and param.device.type != "meta":
                fail(f"{name} is on {param.device}, expected the meta device: the device argument was ignored",
                     "pass device=device, dtype=dtype on to torch.empty, as nn.GroupNorm does")
        with forbid_ops(GROUPNORM_OPS):
            got = call_on_meta(module, torch.empty(2, 4, 3, 3, device="meta"))
        on_meta(got)
        expect_tensor(got, (2, 4, 3, 3))


SWISH_SHAPES = [(7,), (2, 3, 4, 5)]


def swish_variants(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    return [
        (torch.sigmoid(x), "you returned sigmoid(x); swish is x * sigmoid(x)"),
        (x * torch.sigmoid(-x), "sign error: swish is x * sigmoid(x), not x * sigmoid(-x)"),
        (F.relu(x), "that is ReLU; swish is x * sigmoid(x)"),
        (x * torch.tanh(x), "you used tanh; swish uses the logistic sigmoid"),
    ]


SWISH_STABILITY_HINT = ("exp(x) overflows float32 beyond x ≈ 88.7, and inf / inf is NaN: write it as "
                        "x * torch.sigmoid(x) (torch.sigmoid is stable) or x / (1 + torch.exp(-x))")


@check("swish and SiLU")
def swish(swish_fn, SiLU, shapes=SWISH_SHAPES, extras: bool = True) -> None:
    """`extras`: also the cases that vary no shape (float32's edge, gradients, a second call, the meta device)."""
    for seed, shape in enumerate(shapes):
        with case(f"swish on a tensor of shape {shape}"):
            x = torch.randn(shape, generator=seeded(seed)) * 4
            x[..., 0] = 40.0
            x.view(-1)[-1] = -40.0
            before = x.clone()
            with forbid_ops({"silu": SILU_SHORTCUT}):
                got = swish_fn(x)
            if not torch.equal(x, before):
                fail("swish modified its input in place", "return a new tensor: x * torch.sigmoid(x)")
            expect_close(got, F.silu(before), variants=swish_variants(before))
    if extras:
        with case("numerically stable: swish at the edge of float32, x = ±89, ±95, ±100"):
            x = torch.tensor([89.0, 95.0, 100.0, -89.0, -95.0, -100.0, 0.5])
            with forbid_ops({"silu": SILU_SHORTCUT}):
                got = swish_fn(x)
            expect_close(got, F.silu(x), hint=SWISH_STABILITY_HINT)
        with case("gradient: backward through swish, compared with F.silu's"):
            x = (torch.randn(2, 5, generator=seeded(8)) * 3).requires_grad_()
            with forbid_ops({"silu": SILU_SHORTCUT}), torch.enable_grad():
                backward(swish_fn(x).sum())
            x_ref = x.detach().clone().requires_grad_()
            with torch.enable_grad():
                F.silu(x_ref).sum().backward()
            expect_close(x.grad, x_ref.grad, "gradient", hint=GRADIENT_HINT)
        with case("device: swish on a tensor on the meta device"):
            with forbid_ops({"silu": SILU_SHORTCUT}):
                got = call_on_meta(swish_fn, torch.empty(3, 4, device="meta"))
            on_meta(got)
            expect_tensor(got, (3, 4))
    with case("SiLU module, called twice: on x, then on 2 * x - 1"):
        module = SiLU()
        if not isinstance(module, nn.Module):
            fail(f"SiLU() should be an nn.Module, got {type(module).__name__}")
        forbid_submodules(module, (nn.SiLU,), SILU_SHORTCUT)
        if list(module.parameters()):
            fail("SiLU should have no parameters")
        x = torch.randn(3, 5, generator=seeded(7))
        for label, inputs in (("first call, on x", x), ("second call, on 2 * x - 1", 2 * x - 1)):
            with forbid_ops({"silu": SILU_SHORTCUT}):
                got = module(inputs)
            expect_close(got, F.silu(inputs), f"SiLU()(x), {label}", variants=swish_variants(inputs),
                         hint="forward must not depend on earlier calls: keep nothing on self")


def sinusoidal_table(steps: torch.Tensor, size: int, denominator: float | None = None,
                     exponent_scale: float = 2.0) -> torch.Tensor:
    """All sines then all cosines of steps / 10000^(exponent_scale * i / denominator)."""
    i = torch.arange(size // 2, dtype=torch.float64)
    angles = steps.double()[:, None] * 10000.0 ** (-exponent_scale * i / (denominator or size))[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def sinusoidal_variants(steps: torch.Tensor, size: int) -> list[tuple[torch.Tensor, str]]:
    half = size // 2
    table = sinusoidal_table(steps, size)
    rounded = [(sinusoidal_table(steps.floor(), size), "the steps were rounded to integers: convert them with "
                                                      "x.float(), whatever their dtype")] \
        if steps.is_floating_point() and not torch.equal(steps, steps.floor()) else []
    return rounded + [
        (sinusoidal_table(steps, size, denominator=max(half - 1, 1), exponent_scale=1.0),
         "you used the tensor2tensor/DDPM-code frequencies 10000^(-i/(D/2-1)); "
         "this course uses the Transformer's 10000^(-2i/D)"),
        (sinusoidal_table(steps, size, exponent_scale=1.0), "exponent is missing the factor 2: use 10000^(-2i/D)"),
        (torch.cat([table[:, :half], table[:, :half]], -1), "half of your channels should be cosines"),
        (torch.cat([table[:, half:], table[:, half:]], -1), "half of your channels should be sines"),
    ]


def match_columns(got: torch.Tensor, expected: torch.Tensor, atol: float) -> list[int]:
    """Indices of `got`'s columns that match no column of `expected`, one-to-one.

    Channel order is free (concatenated, interleaved, cos first...), so columns are matched
    as a set: each expected column must be used exactly once.
    """
    distance = torch.cdist(got.T.double(), expected.T.double(), p=float("inf"))
    unmatched, used = [], set()
    for col in range(got.shape[1]):
        candidates = [j for j in distance[col].argsort().tolist() if j not in used]
        if candidates and distance[col, candidates[0]] <= atol:
            used.add(candidates[0])
        else:
            unmatched.append(col)
    return unmatched


def expect_embedding(got, steps: torch.Tensor, size: int, atol: float = 1e-4) -> None:
    expect_tensor(got, (len(steps), size), "embedding",
                  hint="return (batch, embedding_size): one row per step")
    if not got.is_floating_point():
        fail(f"embedding should be floating point, got {got.dtype}", "convert the steps with x.float()")
    got = got.detach()
    unmatched = match_columns(got, sinusoidal_table(steps, size), atol)
    if not unmatched:
        return
    for variant, hint in sinusoidal_variants(steps, size):
        if not match_columns(got, variant, atol):
            fail(f"{len(unmatched)} of {size} channels match no sin/cos channel of the Transformer formula", hint)
    col = unmatched[0]
    fail(f"{len(unmatched)} of {size} channels match no sin/cos channel of the Transformer formula "
         f"(any channel order is accepted); your channel {col} is {got[:4, col].tolist()} for steps "
         f"{steps[:4].tolist()}", "check the frequencies 1 / 10000^(2i/D) for i = 0 .. D/2-1")


SINUSOIDAL_CASES = [(torch.tensor([0, 1, 2, 10, 500, 999]), 32), (torch.tensor([7]), 8),
                    (torch.tensor([0.5, 2.25, 40.0]), 8)]  # fractional steps, as a continuous-time model passes


@check("SinusoidalPositionEmbeddings")
def sinusoidal(SinusoidalPositionEmbeddings, cases=SINUSOIDAL_CASES, extras: bool = True) -> None:
    """`extras`: also a second call of one module, and the meta device."""
    for steps, size in cases:
        with case(f"embedding_size={size}, steps={steps.tolist()} ({steps.dtype})"):
            got = SinusoidalPositionEmbeddings(size)(steps)
            expect_embedding(got, steps, size)
    if not extras:
        return
    first, second = torch.tensor([3, 100]), torch.tensor([0, 7, 999])
    with case(f"second call: one module of embedding_size=8 on steps {first.tolist()}, then on {second.tolist()}"):
        module = SinusoidalPositionEmbeddings(8)
        expect_embedding(module(first), first, 8)
        got = module(second)
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (len(first), 8):
            fail(f"the second call, on {len(second)} steps, returned shape {tuple(got.shape)}: the first call's",
                 "compute the embedding in every forward: keep no output of an earlier call on self")
        expect_embedding(got, second, 8)
    with case("device: embedding_size=8, steps [1, 2, 3] on the meta device"):
        got = call_on_meta(SinusoidalPositionEmbeddings(8), torch.tensor([1, 2, 3], device="meta"))
        on_meta(got)
        expect_tensor(got, (3, 8), "embedding", hint="return (batch, embedding_size): one row per step")


def _projection(module: nn.Module, name: str, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (C, C), bias (C,)) of a Linear or 1x1 Conv2d attribute, so either layout works."""
    layer = getattr(module, name, None)
    if not isinstance(layer, (nn.Linear, nn.Conv2d)):
        fail(f"SelfAttention should have an attribute '{name}' that is nn.Linear(C, C) or nn.Conv2d(C, C, 1), "
             f"found {type(layer).__name__}", "keep the attribute names to_q, to_k, to_v, to_out from the stub")
    weight = layer.weight.detach()
    if weight.numel() != channels * channels:
        fail(f"'{name}' has weight shape {tuple(weight.shape)}, expected ({channels}, {channels}) "
             f"(Linear) or ({channels}, {channels}, 1, 1) (1x1 Conv2d)")
    if layer.bias is None:
        fail(f"'{name}' has no bias; the stub prescribes each projection C -> C *with* a bias",
             "keep nn.Linear's default bias=True (the lucidrains and Hugging Face blocks leave it out; this course "
             "does not)")
    return weight.reshape(channels, channels), layer.bias.detach()


def attention_variants(module: nn.Module, x: torch.Tensor, num_heads: int) -> tuple[torch.Tensor, list]:
    """Multi-head attention with the student's own projection weights (via torch's fused kernel),
    and what it would be with each known mistake, paired with the hint naming it."""
    B, C, H, W = x.shape
    d = C // num_heads
    tokens = rearrange(x, "b c h w -> b (h w) c")
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = (_projection(module, name, C)
                                              for name in ("to_q", "to_k", "to_v", "to_out"))

    def attend(scale: float | None = None, softmax_dim: int = -1, split: str = "(heads d)", out_proj: bool = True,
               unflatten: str = "b (h w) c -> b c h w") -> torch.Tensor:
        q, k, v = (rearrange(F.linear(tokens, w, b), f"b n {split} -> b heads n d", heads=num_heads)
                   for w, b in ((wq, bq), (wk, bk), (wv, bv)))
        if scale is None:
            mixed = F.scaled_dot_product_attention(q, k, v)
        else:
            mixed = (q @ k.transpose(-2, -1) * scale).softmax(dim=softmax_dim) @ v
        mixed = rearrange(mixed, f"b heads n d -> b n {split}")
        return rearrange(F.linear(mixed, wo, bo) if out_proj else mixed, unflatten, h=H, w=W)

    root = 1 / math.sqrt(d)
    return attend(), [
        (attend(1.0), "the scores are not scaled: divide q.k by sqrt(head_dim)"),
        (attend(1 / math.sqrt(C)), "you scaled by 1/sqrt(C); scale by 1/sqrt(head_dim), head_dim = C / num_heads"),
        (attend(1 / d), "you scaled by 1/head_dim; scale by 1/sqrt(head_dim)"),
        (attend(root, softmax_dim=-2), "the softmax runs over the query axis; it must run over the key axis "
                                       "(the last axis of scores[b, h, q, k])"),
        (attend(root, split="(d heads)"), "your heads interleave channels; split channels head-major with '(heads d)'"),
        (attend(root, out_proj=False), "the output projection to_out is missing"),
        (attend(root, unflatten="b (w h) c -> b c h w"),
         "pixels are put back in the wrong order: flatten and unflatten with the same '(h w)'"),
    ]


ATTENTION_HINT = ("compare each step with the formula: project, split heads, scale, softmax over keys, "
                  "mix values, merge heads, project out")
ATTENTION_CASES = [(2, 8, 4, 4, 5), (1, 6, 2, 3, 3)]


ATTENTION_STABILITY_HINT = ("exp of a score beyond 88.7 overflows float32, and inf / inf is NaN: use "
                            "scores.softmax(dim=-1), or subtract each row's max before exp, as torch's softmax does")


def large_logits(module: nn.Module) -> None:
    """Scale to_q's and to_k's weights up, by load_state_dict, so that the attention scores reach a std of ~30."""
    state = module.state_dict()
    for name in ("to_q.weight", "to_k.weight"):
        state[name] = state[name] * 4
    module.load_state_dict(state)


@check("SelfAttention")
def attention(SelfAttention, cases=ATTENTION_CASES, extras: bool = True) -> None:
    """`extras`: also a second call, scores at the edge of float32 and the meta device."""
    for seed, (B, C, heads, H, W) in enumerate(cases):
        with case(f"B={B}, C={C}, num_heads={heads}, H={H}, W={W}"):
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                module = SelfAttention(C, num_heads=heads)
            forbid_submodules(module, (nn.MultiheadAttention,), ATTENTION_SHORTCUT)
            x = torch.randn(B, C, H, W, generator=seeded(seed))
            with forbid_ops(ATTENTION_OPS):
                got = module(x)
            expected, variants = attention_variants(module, x, heads)
            expect_close(got, expected, atol=1e-5, hint=ATTENTION_HINT, variants=variants)
    if not extras:
        return
    with case("second call: one SelfAttention(8, num_heads=2) on x, then on 3 * x + 1, B=1, H=3, W=4"):
        with torch.random.fork_rng():
            torch.manual_seed(5)
            module = SelfAttention(8, num_heads=2)
        x = torch.randn(1, 8, 3, 4, generator=seeded(5))
        for label, inputs in (("first call, on x", x), ("second call, on 3 * x + 1", 3 * x + 1)):
            with forbid_ops(ATTENTION_OPS):
                got = module(inputs)
            expected, variants = attention_variants(module, inputs, 2)
            expect_close(got, expected, f"output of the {label}", atol=1e-5, variants=variants,
                         hint="forward must not depend on earlier calls: keep nothing on self")
    with case("numerically stable: scores with std ~30, SelfAttention(8, num_heads=2), B=2, H=4, W=4"):
        with torch.random.fork_rng():
            torch.manual_seed(6)
            module = SelfAttention(8, num_heads=2)
        large_logits(module)
        x = torch.randn(2, 8, 4, 4, generator=seeded(6)) * 3
        with forbid_ops(ATTENTION_OPS):
            got = module(x)
        expected, _ = attention_variants(module, x, 2)
        expect_close(got, expected, atol=1e-3, rtol=1e-3, hint=ATTENTION_STABILITY_HINT)
    with case("device: SelfAttention(8, num_heads=2).to('meta') on an input on the meta device"):
        with torch.random.fork_rng():
            module = SelfAttention(8, num_heads=2).to("meta")
        with forbid_ops(ATTENTION_OPS):
            got = call_on_meta(module, torch.empty(2, 8, 3, 3, device="meta"))
        on_meta(got)
        expect_tensor(got, (2, 8, 3, 3))
