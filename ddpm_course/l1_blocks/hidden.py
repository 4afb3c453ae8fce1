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
    checks.groupnorm(GroupNorm, GROUPNORM_CASES, extras=False)
    checks.groupnorm(GroupNorm, checks.GROUPNORM_CASES[1:], eps=1e-2, extras=False)
    with case("second call with another batch size: one GroupNorm(2, 4) on B=3, then on B=1 with mean 5"):
        module = GroupNorm(2, 4)
        for k, x in enumerate((torch.randn(3, 4, 2, 2, generator=seeded(30)),
                               torch.randn(1, 4, 2, 2, generator=seeded(31)) + 5)):
            with forbid_ops(checks.GROUPNORM_OPS):
                got = module(x)
            expect_close(got, F.group_norm(x, 2), f"output of call {k + 1}", atol=1e-4,
                         hint="compute mean and var in every forward: keep nothing from an earlier call on self")
    with case("numerically stable: input mean -1000, std 0.1, groups=1 (float32)"):
        module = GroupNorm(1, 4, affine=False)
        x = torch.randn(2, 4, 3, 3, generator=seeded(32)) * 0.1 - 1000
        with forbid_ops(checks.GROUPNORM_OPS):
            got = module(x)
        expect_close(got, F.group_norm(x.double(), 1), atol=5e-3, rtol=5e-3, hint=checks.GROUPNORM_STABILITY_HINT)
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
            checks.backward((mine(x_mine) * target).sum())
        (theirs(x_theirs) * target).sum().backward()
        expect_close(x_mine.grad, x_theirs.grad, "input gradient", atol=1e-4)
        expect_close(mine.weight.grad, theirs.weight.grad, "weight gradient", atol=1e-4)


@check("swish and SiLU (hidden)")
def swish(swish_fn, SiLU) -> None:
    checks.swish(swish_fn, SiLU, shapes=[(1,), (4, 1, 3), (2, 2, 2, 2, 2)], extras=False)
    with case("float64 input keeps its dtype"):
        x = torch.linspace(-6, 6, 13, dtype=torch.float64)
        got = swish_fn(x)
        expect_tensor(got, x.shape, dtype=torch.float64)
        expect_close(got, F.silu(x), atol=1e-10)
    with case("gradient matches F.silu"):
        x = torch.randn(10, generator=seeded(3), requires_grad=True)
        checks.backward(swish_fn(x).sum())
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
    with case("second call, the same batch size, other steps: one module of embedding_size=16 on [1, 2], "
              "then on [500, 999]"):
        module = SinusoidalPositionEmbeddings(16)
        for steps in (torch.tensor([1, 2]), torch.tensor([500, 999])):
            checks.expect_embedding(module(steps), steps, 16)
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
    with case("gradients: backward through SelfAttention(8, num_heads=2) with reference weights, compared with "
              "the reference's, input and every parameter"):
        with torch.random.fork_rng():
            torch.manual_seed(110)
            ref = reference.SelfAttention(8, num_heads=2)
            mine = SelfAttention(8, num_heads=2)
        copy_weights(mine, ref, "SelfAttention")
        x = torch.randn(2, 8, 3, 3, generator=seeded(12))
        target = torch.randn(2, 8, 3, 3, generator=seeded(13))
        x_mine, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
        with forbid_ops(checks.ATTENTION_OPS):
            checks.backward((mine(x_mine) * target).sum())
        (ref(x_ref) * target).sum().backward()
        expect_close(x_mine.grad, x_ref.grad, "input gradient", atol=1e-5, hint=checks.GRADIENT_HINT)
        grads = {name: p.grad for name, p in mine.named_parameters()}
        for name, p in ref.named_parameters():
            got = grads.get(name)
            if got is None:
                fail(f"parameter {name} got no gradient", checks.GRADIENT_HINT)
            expect_close(got.reshape(p.shape), p.grad, f"gradient of {name}", atol=1e-5, hint=checks.GRADIENT_HINT)
