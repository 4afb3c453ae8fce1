"""Hidden checks of lesson 1: more cases, edge cases, gradients, and the reference solution.

Never released to students (generate_assignment copies only solutions/; the student bundle
leaves this file out). Each function is called in one line by a graded cell through
`ddpm_course.checking.run_hidden`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddpm_course.checking import case, check, copy_weights, expect_close, expect_tensor, fail, forbid_ops, seeded
from ddpm_course.l1_blocks import checks, reference

GROUPNORM_CASES = [
    (1, 8, 4, 1, 9, True, 1.0, 0.0),      # batch 1, a single row of pixels
    (3, 12, 4, 5, 3, False, 2.0, -1.0),   # channel count != groups, odd sizes
    (2, 6, 1, 4, 4, True, 1.0, 0.0),      # one group: LayerNorm over (C, H, W)
    (2, 6, 6, 3, 5, True, 1.0, 0.0),      # a group per channel: InstanceNorm
    (2, 4, 2, 3, 3, True, 1e-3, 0.0),     # low variance, affine
]


@check("GroupNorm (hidden)")
def groupnorm(GroupNorm) -> None:
    checks.groupnorm(GroupNorm, GROUPNORM_CASES)
    checks.groupnorm(GroupNorm, checks.GROUPNORM_CASES[1:], eps=1e-2)
    with case("reset_parameters() restores weight=1, bias=0"):
        module = GroupNorm(2, 4)
        module.load_state_dict({"weight": torch.full((4,), 3.0), "bias": torch.full((4,), 3.0)})
        module.reset_parameters()
        expect_close(module.weight, torch.ones(4), "weight after reset_parameters()")
        expect_close(module.bias, torch.zeros(4), "bias after reset_parameters()")
    with case("gradients match torch.nn.GroupNorm"):
        mine, theirs = GroupNorm(3, 6), nn.GroupNorm(3, 6)
        copy_weights(theirs, mine, "GroupNorm")
        x = torch.randn(2, 6, 3, 4, generator=seeded(11))
        x_mine, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
        target = torch.randn(2, 6, 3, 4, generator=seeded(12))
        with forbid_ops(checks.GROUPNORM_OPS):
            (mine(x_mine) * target).sum().backward()
        (theirs(x_theirs) * target).sum().backward()
        expect_close(x_mine.grad, x_theirs.grad, "input gradient", atol=1e-4)
        expect_close(mine.weight.grad, theirs.weight.grad, "weight gradient", atol=1e-4)


@check("swish and SiLU (hidden)")
def swish(swish_fn, SiLU) -> None:
    checks.swish(swish_fn, SiLU, shapes=[(1,), (4, 1, 3), (2, 2, 2, 2, 2)])
    with case("float64 input keeps its dtype"):
        x = torch.linspace(-6, 6, 13, dtype=torch.float64)
        got = swish_fn(x)
        expect_tensor(got, x.shape, dtype=torch.float64)
        expect_close(got, F.silu(x), atol=1e-10)
    with case("gradient matches F.silu"):
        x = torch.randn(10, generator=seeded(3), requires_grad=True)
        swish_fn(x).sum().backward()
        x_ref = x.detach().clone().requires_grad_()
        F.silu(x_ref).sum().backward()
        expect_close(x.grad, x_ref.grad, "gradient")


@check("SinusoidalPositionEmbeddings (hidden)")
def sinusoidal(SinusoidalPositionEmbeddings) -> None:
    cases = [
        (torch.tensor([0]), 2),
        (torch.tensor([999, 3, 0, 250]), 64),
        (torch.tensor([1.0, 2.5, 40.0]), 16),
        (torch.arange(0, 1000, 37), 128),
    ]
    for steps, size in cases:
        with case(f"embedding_size={size}, steps={steps.tolist()[:6]} ({steps.dtype})"):
            got = SinusoidalPositionEmbeddings(size)(steps)
            checks.expect_embedding(got, steps, size)
            expected = reference.SinusoidalPositionEmbeddings(size)(steps)
            if got.dtype != expected.dtype:
                fail(f"embedding dtype is {got.dtype}, expected {expected.dtype}", "use float32, e.g. x.float()")


@check("SelfAttention (hidden)")
def attention(SelfAttention) -> None:
    cases = [(1, 8, 4, 3, 5), (2, 4, 1, 2, 2), (3, 12, 3, 1, 7), (2, 16, 4, 4, 4)]
    for seed, (B, C, heads, H, W) in enumerate(cases):
        with case(f"reference weights, B={B}, C={C}, num_heads={heads}, H={H}, W={W}"):
            with torch.random.fork_rng():
                torch.manual_seed(100 + seed)
                ref = reference.SelfAttention(C, num_heads=heads)
                mine = SelfAttention(C, num_heads=heads)
            copy_weights(mine, ref, "SelfAttention")
            x = torch.randn(B, C, H, W, generator=seeded(seed)) * 2
            with forbid_ops(checks.ATTENTION_OPS):
                got = mine(x)
            with torch.no_grad():
                expected = ref(x)
            _, variants = checks.attention_variants(ref, x, heads)
            expect_close(got, expected, atol=1e-5, hint=checks.ATTENTION_HINT, variants=variants)
