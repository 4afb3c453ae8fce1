"""Visible checks of lesson 4. They need no trained model and no reference code.

DDIM runs on a stand-in noise predictor (fakes.py: exact for Gaussian data, plus a small
nonlinear term) and is compared with eq. 12 of Song et al. replayed on the same random numbers
and the same steps the student's sampler chose. FID is compared with closed forms (Gaussians
whose covariances share eigenvectors), KID with its definition written as plain loops
(closed_forms.py).
"""
from __future__ import annotations

import math

import torch

from ddpm_course.checking import case, check, expect_close, expect_close_lazily, expect_tensor, fail, lend, seeded
from ddpm_course.l3_diffusion.reference import NoiseSchedule
from ddpm_course.l4_training.closed_forms import ddim_expected, ddim_variants, frechet_cases, kid_loops, kid_variants
from ddpm_course.l4_training.fakes import StandInModel, toy_schedule

DDIM_HINT = "compare each line with eq. 12 above: x0_pred, sigma, then the three terms of x_prev"


def expect_timesteps(calls: list[int], T: int, num_steps: int) -> None:
    """Fail unless the model was called once per step on a valid decreasing subsequence of 0..T-1."""
    shown = calls if len(calls) <= 12 else calls[:6] + ["..."] + calls[-3:]
    if len(calls) != num_steps:
        stride = T // num_steps
        fail(f"with num_steps={num_steps} your sampler called the model {len(calls)} times (at t = {shown})",
             f"range(0, T, T // num_steps) makes more than num_steps steps when num_steps does not divide T "
             f"(here T={T}): use (torch.arange(num_steps) * T // num_steps).flip(0)"
             if len(calls) > num_steps and sorted(calls) == list(range(0, T, stride))
             else "call the model once per step of the subsequence")
    if any(b >= a for a, b in zip(calls, calls[1:])):
        fail(f"your sampler called the model at t = {shown}: the steps must be strictly decreasing",
             "go from noise to data: (torch.arange(num_steps) * T // num_steps).flip(0)")
    if num_steps > 1 and calls[-1] != 0:
        fail(f"your sampler called the model at t = {shown}: the last step must be t = 0",
             "steps are 0-based code indices as in lesson 3, so the last call is at t = 0: did you pass t + 1?"
             if calls[-1] == 1 else "the subsequence must end at t = 0, the step just before the clean image")
    if calls[0] < T - 1 - 2 * T / num_steps:  # within two strides of the top, as a truncated range(0, T, T // S)
        fail(f"your sampler called the model at t = {shown}: the first step must be near T - 1 = {T - 1}",
             "start from pure noise at the top of the schedule: (torch.arange(num_steps) * T // num_steps).flip(0)")


def run_sampler(ddim_sample, model: StandInModel, schedule: NoiseSchedule, shape, num_steps: int, eta: float,
                seed: int, global_seed: int, **kwargs) -> tuple[torch.Tensor, list[int]]:
    """The student's sampler with a seeded generator, the global RNG set to global_seed and restored; and the
    steps it called the model at (recorded where the student's code runs)."""
    lent = lend(model)
    lent.calls = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(global_seed)
        got = ddim_sample(lent, schedule, shape, num_steps=num_steps, eta=eta, generator=seeded(seed),
                          progress=False, **kwargs)
    return got, list(lent.calls)


def check_ddim_case(ddim_sample, schedule: NoiseSchedule, shape, num_steps: int, eta: float, seed: int,
                    atol: float = 1e-4, clip: bool = False, **kwargs) -> None:
    B, C, H, W = shape
    T = len(schedule.alpha_bars)
    mean = torch.linspace(-0.8, 0.8, C * H * W).reshape(C, H, W)
    model = StandInModel(schedule.alpha_bars, mean)
    if clip:
        kwargs["clip_x0"] = True
    got, calls = run_sampler(ddim_sample, model, schedule, shape, num_steps, eta, seed, global_seed=1, **kwargs)
    expect_tensor(got, shape, "the sample")
    if got.requires_grad:
        fail("the sample requires grad: the sampler built an autograd graph through every step",
             "keep the @torch.no_grad() decorator above ddim_sample")
    expect_timesteps(calls, T, num_steps)
    if not torch.isfinite(got).all():
        fail("the sample contains NaN or inf",
             "a sqrt of a negative number? With sigma as in eq. 12, 1 - ᾱ_prev - sigma² is never negative: "
             "sigma has two factors, eta * sqrt((1 - ᾱ_prev) / (1 - ᾱ_t)) * sqrt(1 - ᾱ_t / ᾱ_prev)")
    again, _ = run_sampler(ddim_sample, model, schedule, shape, num_steps, eta, seed, global_seed=2, **kwargs)
    if not torch.equal(got, again):
        fail("two runs with generators seeded alike gave different samples",
             "draw every random number with generator=generator: "
             "torch.randn(shape, generator=generator, device=device)")
    expected = ddim_expected(model, schedule.alpha_bars, shape, calls, eta, seed, clip=clip)
    if clip and torch.allclose(got.double(), ddim_expected(model, schedule.alpha_bars, shape, calls, eta, seed,
                                                           clip=True, eps_kind="model"), atol=atol, rtol=1e-4):
        return  # diffusers' way: the model's own eps in the direction term, also accepted
    expect_close_lazily(got, expected, "the sample", atol=atol, rtol=1e-4, hint=DDIM_HINT,
                        variants=lambda: ddim_variants(model, schedule.alpha_bars, shape, calls, eta, seed, clip=clip))


DEVICE_HINT = "make every tensor on the device you sample on: torch.randn(shape, generator=generator, device=device)"


def expect_device(ddim_sample, schedule: NoiseSchedule, shape) -> None:
    """DDIM on the meta device, another device than the CPU, as a GPU is: the sample is made there."""
    B, C, H, W = shape
    model = StandInModel(schedule.alpha_bars, torch.zeros(C, H, W))
    try:
        got, _ = run_sampler(ddim_sample, model, schedule, shape, 4, 0.5, seed=0, global_seed=1, device="meta")
    except RuntimeError as err:
        if "device" not in str(err):
            raise
        fail(f"on the device 'meta', your sampler raised: {str(err)[:200]}", DEVICE_HINT)
    if not isinstance(got, torch.Tensor) or got.device.type != "meta":
        fail(f"asked for samples on the device 'meta', ddim_sample returned them on "
             f"{got.device if isinstance(got, torch.Tensor) else type(got).__name__}", DEVICE_HINT)


# (shape, T, num_steps, eta, clip_x0)
DDIM_CASES = [((2, 1, 6, 6), 20, 5, 0.0, False), ((1, 3, 4, 5), 50, 10, 1.0, False), ((3, 2, 3, 3), 40, 8, 0.5, False),
              ((2, 1, 4, 4), 30, 7, 0.0, False),  # 7 does not divide 30
              ((2, 2, 4, 4), 20, 5, 0.0, True), ((2, 1, 5, 5), 30, 6, 1.0, True)]


def describe(shape, T: int, num_steps: int, eta: float, clip: bool) -> str:
    return f"shape={shape}, T={T}, num_steps={num_steps}, eta={eta}" + (", clip_x0=True" if clip else "")


@check("ddim_sample")
def ddim(ddim_sample, cases=DDIM_CASES) -> None:
    for seed, (shape, T, num_steps, eta, clip) in enumerate(cases):
        with case(describe(shape, T, num_steps, eta, clip)):
            check_ddim_case(ddim_sample, toy_schedule(T), shape, num_steps, eta, seed, clip=clip)
    with case("device='meta' (another device than the CPU, as a GPU is), shape (2, 1, 3, 3), T=20, num_steps=4"):
        expect_device(ddim_sample, toy_schedule(20), (2, 1, 3, 3))


def as_number(got, what: str) -> float:
    """A Python float from a float or a one-element tensor; a clean failure otherwise."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got.detach())
    if isinstance(got, (float, int)):
        return float(got)
    shown = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
    fail(f"{what} should return one number, got {shown}", "sum the terms into a single value and return float(...)")


SINGULAR_HINT = ("a covariance with fewer samples than features is singular, and eigh returns its zero "
                 "eigenvalues as tiny negative numbers: clamp(min=0) before every sqrt")


def expect_number(got: float, expected: float, what: str, variants: list[tuple[float, str]], hint: str,
                  atol: float = 1e-6, rtol: float = 1e-6, nan_hint: str | None = None) -> None:
    """Fail unless the number `got` is close to `expected`; variants as in expect_close."""
    if not math.isfinite(got):
        fail(f"{what} is {got}, expected {expected:.6g}", nan_hint or hint)

    def as_tensor(value: float) -> torch.Tensor:
        return torch.tensor(value, dtype=torch.float64)

    expect_close(as_tensor(got), as_tensor(expected), what, atol=atol, rtol=rtol, hint=hint,
                 variants=[(as_tensor(v), h) for v, h in variants])


def expect_stats(feature_stats, features: torch.Tensor) -> None:
    got = feature_stats(features)
    if not (isinstance(got, tuple) and len(got) == 2):
        fail(f"feature_stats should return a tuple (mean, covariance), got {type(got).__name__}")
    N, D = features.shape
    mean, cov = got
    f = features.double()
    expect_tensor(mean, (D,), "mean")
    expect_close(mean, f.mean(0), "mean", atol=1e-6, rtol=1e-6, hint="the mean over the N samples, one per feature")
    expect_tensor(cov, (D, D), "covariance", hint="a (D, D) matrix: features.T @ features, not features @ features.T")
    expect_close(cov, torch.cov(f.T), "covariance", atol=1e-6, rtol=1e-6, hint="compare with torch.cov(features.T)",
                 variants=[(torch.cov(f.T, correction=0), "the covariance must be unbiased: divide by N - 1, not N"),
                           (f.T @ f / (N - 1), "subtract the mean before the product of the features")])


def expect_float64_stats(feature_stats, features: torch.Tensor) -> None:
    mean, cov = feature_stats(features)
    for name, value in (("mean", mean), ("covariance", cov)):
        if not isinstance(value, torch.Tensor) or value.dtype != torch.float64:
            got = getattr(value, "dtype", type(value).__name__)
            fail(f"for float32 features the {name} is {got}, expected float64",
                 "convert to float64 first (features.double()): FID is a small difference of large numbers")


FRECHET_HINT = "compare with d² = ||mu1 - mu2||² + tr(cov1) + tr(cov2) - 2 tr(sqrt(cov1 cov2))"
ROOTS_HINT = ("sqrt(cov1) @ sqrt(cov2) is the square root of cov1 @ cov2 only when the two commute; take the "
              "eigenvalues of sqrt(cov1) @ cov2 @ sqrt(cov1)")
# Covariances that do not commute, with the distance stored rather than computed here (so no formula ships),
# and what the product of the two square roots gives instead.
MU1, MU2 = [0.5, -1.0, 0.0], [0.0, 0.5, 1.0]
COV1 = [[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]]
COV2 = [[1.0, -0.4, 0.2], [-0.4, 0.8, 0.0], [0.2, 0.0, 1.5]]
NOT_COMMUTING, PRODUCT_OF_ROOTS = 4.508037310020103, 4.5148423566287175


@check("feature_stats and frechet_distance")
def fid(feature_stats, frechet_distance) -> None:
    with case("feature_stats of 50 samples of 6 features (float64)"):
        features = torch.randn(50, 6, generator=seeded(0), dtype=torch.float64) * torch.arange(1, 7) + 3
        expect_stats(feature_stats, features)
    cases = frechet_cases()
    for desc, (mu1, cov1, mu2, cov2), expected, variants in cases:
        with case(desc):
            got = as_number(frechet_distance(mu1, cov1, mu2, cov2), "frechet_distance")
            expect_number(got, expected, "frechet_distance", variants, FRECHET_HINT, nan_hint=SINGULAR_HINT)
    with case("feature_stats of 200 float32 samples of 24 features: float64 statistics, as the docstring says"):
        features = torch.randn(200, 24, generator=seeded(1)) * 3 + 10
        expect_float64_stats(feature_stats, features)
    with case("covariances that do not commute (cov1 @ cov2 != cov2 @ cov1), D=3"):
        mu1, mu2, cov1, cov2 = (torch.tensor(v, dtype=torch.float64) for v in (MU1, MU2, COV1, COV2))
        got = as_number(frechet_distance(mu1, cov1, mu2, cov2), "frechet_distance")
        expect_number(got, NOT_COMMUTING, "frechet_distance", [(PRODUCT_OF_ROOTS, ROOTS_HINT)], FRECHET_HINT)
    with case("float32 mean and covariance of 500 samples of 16 features: the same Gaussian twice gives 0"):
        features = torch.randn(500, 16, generator=seeded(9)) * 5 + 100
        mu, cov = features.mean(0), torch.cov(features.T)
        got = as_number(frechet_distance(mu, cov, mu, cov), "frechet_distance")
        expect_number(got, 0.0, "frechet_distance of a Gaussian with itself", [],
                      "compute in float64, as the text says: convert mu and cov with .double()", atol=1e-6)
    with case("a singular covariance (4 samples of 6 features: eigh returns its zero eigenvalues as tiny "
              "negatives) against itself"):
        features = torch.randn(4, 6, generator=seeded(5), dtype=torch.float64)
        mu, cov = features.mean(0), torch.cov(features.T)
        got = as_number(frechet_distance(mu, cov, mu, cov), "frechet_distance")
        expect_number(got, 0.0, "frechet_distance of a Gaussian with itself", [], FRECHET_HINT,
                          nan_hint=SINGULAR_HINT)


KID_HINT = "compare with the formula: two within-set means without the diagonal, minus twice the cross mean"
# (M, N, D, scale of b, shift of b)
KID_CASES = [(5, 7, 3, 1.0, 0.5), (4, 4, 2, 2.0, -1.0), (6, 3, 8, 0.5, 0.0)]


@check("kid")
def kid(kid_fn, cases=KID_CASES) -> None:
    for seed, (M, N, D, scale, shift) in enumerate(cases):
        with case(f"M={M}, N={N}, D={D} (float64)"):
            a = torch.randn(M, D, generator=seeded(seed), dtype=torch.float64)
            b = torch.randn(N, D, generator=seeded(seed + 10), dtype=torch.float64) * scale + shift
            got = as_number(kid_fn(a, b), "kid")
            expect_number(got, kid_loops(a, b), "kid", kid_variants(a, b), KID_HINT, atol=1e-8)
    # around 10 the kernels are about 10^6, so float32 sums are off by about 0.3 (features around 3 hid it)
    with case("M=40, N=30, D=16, float32 features around 10: computed in float64, as the text says"):
        a = torch.randn(40, 16, generator=seeded(20)) + 10
        b = torch.randn(30, 16, generator=seeded(21)) * 1.1 + 10
        got, expected = as_number(kid_fn(a, b), "kid"), kid_loops(a, b)
        roughly = abs(got - expected) < 1e-2 * abs(expected)
        expect_number(got, expected, "kid", [], "close, but not exact: convert the features with .double() before "
                      "the kernels; float32 loses digits in the difference of the three means" if roughly else
                      KID_HINT, atol=1e-7, rtol=1e-6)
