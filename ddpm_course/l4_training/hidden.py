"""Hidden checks of lesson 4: more shapes and schedules, the DDPM special case, float32 inputs,
non-commuting covariances, and the reference solution.

Never released to students. Each function is called in one line by a graded cell through
`ddpm_course.checking.run_hidden`.
"""
from __future__ import annotations

import torch

from ddpm_course.checking import case, check, expect_close, seeded
from ddpm_course.l3_diffusion.reference import cosine_beta_schedule, linear_beta_schedule, sample
from ddpm_course.l4_training import checks, reference
from ddpm_course.l4_training.closed_forms import ddim_expected
from ddpm_course.l4_training.fakes import Schedule, StandInModel, toy_schedule

# (shape, schedule, num_steps, eta)
DDIM_CASES = [
    ((1, 1, 7, 5), Schedule(linear_beta_schedule(1000)), 50, 0.0),      # the DDPM schedule, batch 1
    ((2, 3, 2, 2), Schedule(linear_beta_schedule(1000)), 20, 0.3),
    ((3, 1, 4, 4), Schedule(cosine_beta_schedule(100)), 20, 1.0),        # cosine: ᾱ_{T-1} is tiny
    ((2, 2, 3, 5), toy_schedule(37), 6, 0.7),                          # T not a multiple of num_steps
    ((1, 2, 3, 3), toy_schedule(12), 12, 0.0),                         # every step
]
# (shape, schedule, num_steps, eta), each with clip_x0=True
CLIP_CASES = [
    ((2, 1, 5, 4), Schedule(cosine_beta_schedule(1000)), 50, 0.0),     # as lesson 4 samples images
    ((1, 2, 3, 3), Schedule(linear_beta_schedule(1000)), 20, 1.0),
    ((3, 1, 3, 3), toy_schedule(37), 6, 0.5),
]


@check("ddim_sample (hidden)")
def ddim(ddim_sample) -> None:
    for seed, (shape, schedule, num_steps, eta) in enumerate(DDIM_CASES):
        T = len(schedule.alpha_bars)
        with case(f"shape={shape}, T={T}, num_steps={num_steps}, eta={eta}"):
            checks.check_ddim_case(ddim_sample, schedule, shape, num_steps, eta, seed=20 + seed)
    with case("device='cpu' given as a string"):
        checks.check_ddim_case(ddim_sample, toy_schedule(20), (2, 1, 3, 3), 4, 0.5, seed=30, device="cpu")
    for seed, (shape, schedule, num_steps, eta) in enumerate(CLIP_CASES):
        T = len(schedule.alpha_bars)
        with case(f"shape={shape}, T={T}, num_steps={num_steps}, eta={eta}, clip_x0=True"):
            checks.check_ddim_case(ddim_sample, schedule, shape, num_steps, eta, seed=40 + seed, clip=True)
    with case("eta=1 with every step is DDPM with σ² = β̃ (lesson 3's sampler)"):
        schedule = toy_schedule(30)
        shape = (2, 1, 4, 4)
        model = StandInModel(schedule.alpha_bars, torch.zeros(1, 4, 4))
        got, _ = checks.run_sampler(ddim_sample, model, schedule, shape, 30, 1.0, seed=31, global_seed=1)
        expected, _ = sample(model, schedule, shape, variance="beta_tilde", generator=seeded(31), progress=False)
        expect_close(got, expected, "the sample", atol=1e-4, hint=checks.DDIM_HINT)
    with case("eta=1 with every step and clip_x0=True is lesson 3's clipped DDPM with σ² = β̃"):
        schedule = toy_schedule(30)
        shape = (2, 1, 4, 4)
        model = StandInModel(schedule.alpha_bars, torch.full((1, 4, 4), 0.9), spread=1.0)
        got, _ = checks.run_sampler(ddim_sample, model, schedule, shape, 30, 1.0, seed=32, global_seed=1,
                                    clip_x0=True)
        expected, _ = sample(model, schedule, shape, variance="beta_tilde", generator=seeded(32), progress=False,
                             clip_x0=True)
        diffusers_way = ddim_expected(model, schedule.alpha_bars, shape, list(range(29, -1, -1)), 1.0, 32,
                                             clip=True, eps_kind="model")
        if not torch.allclose(got.double(), diffusers_way, atol=1e-4, rtol=1e-4):
            expect_close(got, expected, "the sample", atol=1e-4, hint="with clip_x0, take eps from the clipped "
                         "x0_pred: eps = (x - sqrt(ᾱ_t) x0_pred) / sqrt(1 - ᾱ_t)")


@check("feature_stats and frechet_distance (hidden)")
def fid(feature_stats, frechet_distance) -> None:
    with case("feature_stats of 3 samples of 2 features"):
        checks.expect_stats(feature_stats, torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], dtype=torch.float64))
    with case("feature_stats of 200 float32 samples of 24 features"):
        features = torch.randn(200, 24, generator=seeded(1)) * 3 + 10
        checks.expect_float64_stats(feature_stats, features)
        checks.expect_stats(feature_stats, features)
    cases = [(8, 40, 0), (24, 100, 1)]
    for D, N, seed in cases:
        with case(f"general covariances (not commuting), D={D}, from {N} samples"):
            a = torch.randn(N, D, generator=seeded(seed), dtype=torch.float64)
            b = torch.randn(N, D, generator=seeded(seed + 50), dtype=torch.float64) @ torch.randn(
                D, D, generator=seeded(seed + 99), dtype=torch.float64) / D**0.5 + 0.2
            stats = (a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))
            got = checks.as_number(frechet_distance(*stats), "frechet_distance")
            expected = reference.frechet_distance(*stats)
            root1, root2 = (reference_sqrt(c) for c in (stats[1], stats[3]))
            product_of_roots = float(((stats[0] - stats[2]) ** 2).sum() + stats[1].trace() + stats[3].trace()
                                     - 2 * (root1 @ root2).trace())
            checks.expect_number(got, expected, "frechet_distance", [(product_of_roots, checks.ROOTS_HINT)],
                checks.FRECHET_HINT, atol=1e-6, rtol=1e-6, nan_hint=checks.SINGULAR_HINT)
    with case("singular covariances: 10 samples of 20 features, two different sets"):
        a = torch.randn(10, 20, generator=seeded(7), dtype=torch.float64)
        b = torch.randn(10, 20, generator=seeded(8), dtype=torch.float64) + 0.5
        stats = (a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))
        got = checks.as_number(frechet_distance(*stats), "frechet_distance")
        checks.expect_number(got, reference.frechet_distance(*stats), "frechet_distance", [], checks.FRECHET_HINT,
                             atol=1e-6, rtol=1e-6, nan_hint=checks.SINGULAR_HINT)


def reference_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a PSD matrix, through its eigendecomposition."""
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return eigenvectors @ torch.diag(eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


@check("kid (hidden)")
def kid(kid_fn) -> None:
    checks.kid(kid_fn, [(2, 2, 1, 1.0, 0.0), (3, 9, 5, 1.5, 0.3)])
    cases = [(40, 30, 24, 0), (100, 100, 16, 1)]
    for M, N, D, seed in cases:
        with case(f"M={M}, N={N}, D={D}, float32 features"):
            a = torch.randn(M, D, generator=seeded(seed))
            b = torch.randn(N, D, generator=seeded(seed + 5)) * 1.2 + 0.1
            got = checks.as_number(kid_fn(a, b), "kid")
            checks.expect_number(got, reference.kid(a, b), "kid", [], checks.KID_HINT, atol=1e-7, rtol=1e-6)
            swapped = checks.as_number(kid_fn(b, a), "kid")
            checks.expect_number(swapped, got, "kid with the two sets swapped", [],
                                 "KID is symmetric: both within-set sums get their own normalisation", atol=1e-7)
