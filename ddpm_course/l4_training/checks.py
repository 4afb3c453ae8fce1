"""Visible checks of lesson 4. They need no trained model and no reference code.

DDIM runs on a stand-in noise predictor (exact for Gaussian data, plus a small nonlinear term)
and is compared with eq. 12 of Song et al. replayed on the same random numbers and the same
steps the student's sampler chose. FID is compared with closed forms (Gaussians whose
covariances share eigenvectors), KID with its definition written as plain loops.
"""
from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from ddpm_course.checking import case, check, expect_close, expect_tensor, fail, seeded
from ddpm_course.l3_diffusion.reference import NoiseSchedule, linear_beta_schedule

DDIM_HINT = "compare each line with eq. 12 above: x0_pred, sigma, then the three terms of x_prev"


class StandInModel(nn.Module):
    """A noise predictor that needs no training: the exact one for data ~ N(mean, spread^2) per
    pixel, plus 0.1 sqrt(a) sin(3x) so that mistakes cannot cancel. It records the steps it is
    called at and fails cleanly when it is called with a malformed t."""

    def __init__(self, alpha_bars: torch.Tensor, mean: torch.Tensor, spread: float = 0.5) -> None:
        super().__init__()
        self.alpha_bars, self.mean, self.spread = alpha_bars, mean, spread
        # a parameter, so that a sampler running outside torch.no_grad() would build a graph
        self.gain = nn.Parameter(torch.ones(()))
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != (B,) or t.dtype != torch.long:
            shown = f"a {tuple(t.shape)} {t.dtype} tensor" if isinstance(t, torch.Tensor) else repr(t)
            fail(f"the model was called with t = {shown}, expected a ({B},) torch.long tensor",
                 "pass the step as torch.full((B,), t, dtype=torch.long, device=device)")
        T = len(self.alpha_bars)
        if int(t.min()) < 0 or int(t.max()) >= T:
            fail(f"the model was called at t = {int(t.max())}, outside 0..{T - 1}",
                 "steps are 0-based code indices as in lesson 3: the first call is at t = T-1, the last at t = 0")
        if not (t == t[0]).all():
            fail(f"the model was called with different steps in one batch: {t.tolist()}",
                 "every image of the batch is at the same step")
        self.calls.append(int(t[0]))
        alpha_bar = rearrange(self.alpha_bars.to(x.dtype)[t], "b -> b 1 1 1")
        mean = self.mean.to(x.dtype)
        eps = torch.sqrt(1 - alpha_bar) * (x - torch.sqrt(alpha_bar) * mean) / (
            alpha_bar * self.spread**2 + 1 - alpha_bar)
        return (eps + 0.1 * torch.sqrt(alpha_bar) * torch.sin(3 * x)) * self.gain


def ddim_expected(model: StandInModel, alpha_bars: torch.Tensor, shape: tuple[int, ...], timesteps: list[int],
                  eta: float, seed: int, prev: str = "next", direction: str = "paper", add_noise: bool = True,
                  noise_scale: str = "sigma", x0_kind: str = "paper") -> torch.Tensor:
    """Eq. 12 in float64 on `timesteps`, with the random numbers drawn in the prescribed order.

    The keyword arguments reproduce known mistakes, so their outputs can name them in a hint.
    """
    generator = seeded(seed)
    ab = alpha_bars.double()
    x = torch.randn(shape, generator=generator).double()
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            a = ab[t]
            if prev == "t-1":
                a_prev = ab[t - 1] if t > 0 else torch.ones_like(a)
            else:
                a_prev = ab[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.ones_like(a)
            eps = model(x, torch.full((shape[0],), t, dtype=torch.long)).double()
            x0 = (x - (1 - a if x0_kind == "no sqrt" else torch.sqrt(1 - a)) * eps) / torch.sqrt(a)
            sigma = eta * torch.sqrt((1 - a_prev) / (1 - a)) * torch.sqrt(1 - a / a_prev)
            kept = (1 - a_prev) if direction == "no sigma" else (1 - a_prev - sigma**2).clamp(min=0)
            x = torch.sqrt(a_prev) * x0 + torch.sqrt(kept) * eps
            if eta > 0 and i + 1 < len(timesteps):
                z = torch.randn(shape, generator=generator).double()
                if add_noise:
                    x = x + (sigma**2 if noise_scale == "variance" else sigma) * z
    return x


def ddim_variants(model, alpha_bars, shape, timesteps, eta, seed) -> list[tuple[torch.Tensor, str]]:
    """What known DDIM mistakes output on the same steps and random numbers, with their hints."""
    def run(**kwargs):
        return ddim_expected(model, alpha_bars, shape, timesteps, kwargs.pop("eta", eta), seed, **kwargs)

    variants = [
        (run(prev="t-1"), "alpha_bar_prev is ᾱ at the NEXT step of your subsequence (timesteps[i + 1]), "
                          "not at t - 1: DDIM skips steps"),
        (run(x0_kind="no sqrt"),
         "x0_pred = (x - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t): the square root on (1 - ᾱ_t) is missing"),
    ]
    if eta > 0:
        variants += [
            (run(eta=0.0), "eta has no effect in your sampler: sigma = eta * ..., and add sigma * z"),
            (run(add_noise=False),
             "you removed sigma² from the direction term but never added the fresh noise sigma * z"),
            (run(noise_scale="variance"), "the fresh noise is sigma * z: you scaled it by the variance sigma²"),
            (run(direction="no sigma"), "the direction term is sqrt(1 - ᾱ_prev - sigma²) * eps: subtract sigma²"),
        ]
    return variants


def expect_timesteps(calls: list[int], T: int, num_steps: int) -> None:
    """Fail unless the model was called once per step on a valid decreasing subsequence of 0..T-1."""
    shown = calls if len(calls) <= 12 else calls[:6] + ["..."] + calls[-3:]
    if len(calls) != num_steps:
        fail(f"with num_steps={num_steps} your sampler called the model {len(calls)} times (at t = {shown})",
             "call the model once per step of the subsequence")
    if any(b >= a for a, b in zip(calls, calls[1:])):
        fail(f"your sampler called the model at t = {shown}: the steps must be strictly decreasing",
             "go from noise to data: (torch.arange(num_steps) * T // num_steps).flip(0)")
    if num_steps > 1 and calls[-1] != 0:
        fail(f"your sampler called the model at t = {shown}: the last step must be t = 0",
             "steps are 0-based code indices as in lesson 3, so the last call is at t = 0: did you pass t + 1?"
             if calls[-1] == 1 else "the subsequence must end at t = 0, the step just before the clean image")
    if calls[0] < T - 1 - T / num_steps:
        fail(f"your sampler called the model at t = {shown}: the first step must be near T - 1 = {T - 1}",
             "start from pure noise at the top of the schedule: (torch.arange(num_steps) * T // num_steps).flip(0)")


def run_sampler(ddim_sample, model: StandInModel, schedule: NoiseSchedule, shape, num_steps: int, eta: float,
                seed: int, global_seed: int, **kwargs) -> tuple[torch.Tensor, list[int]]:
    """The student's sampler with a seeded generator, the global RNG set to global_seed and restored."""
    model.calls = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(global_seed)
        got = ddim_sample(model, schedule, shape, num_steps=num_steps, eta=eta, generator=seeded(seed),
                          progress=False, **kwargs)
    return got, list(model.calls)


def toy_schedule(T: int) -> NoiseSchedule:
    """A linear schedule whose ᾱ reaches about 1e-3 at T, whatever T is."""
    return NoiseSchedule(linear_beta_schedule(T, 1e-3, min(0.999, 14 / T)))


def check_ddim_case(ddim_sample, schedule: NoiseSchedule, shape, num_steps: int, eta: float, seed: int,
                    atol: float = 1e-4, **kwargs) -> None:
    B, C, H, W = shape
    T = len(schedule.alpha_bars)
    mean = torch.linspace(-0.8, 0.8, C * H * W).reshape(C, H, W)
    model = StandInModel(schedule.alpha_bars, mean)
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
    expected = ddim_expected(model, schedule.alpha_bars, shape, calls, eta, seed)
    expect_close(got, expected, "the sample", atol=atol, rtol=1e-4, hint=DDIM_HINT,
                 variants=ddim_variants(model, schedule.alpha_bars, shape, calls, eta, seed))


# (shape, T, num_steps, eta)
DDIM_CASES = [((2, 1, 6, 6), 20, 5, 0.0), ((1, 3, 4, 5), 50, 10, 1.0), ((3, 2, 3, 3), 40, 8, 0.5)]


@check("ddim_sample")
def ddim(ddim_sample, cases=DDIM_CASES) -> None:
    for seed, (shape, T, num_steps, eta) in enumerate(cases):
        with case(f"shape={shape}, T={T}, num_steps={num_steps}, eta={eta}"):
            check_ddim_case(ddim_sample, toy_schedule(T), shape, num_steps, eta, seed)


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
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)
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


def rotation(D: int, seed: int) -> torch.Tensor:
    """A random orthogonal (D, D) matrix, float64."""
    q, _ = torch.linalg.qr(torch.randn(D, D, generator=seeded(seed), dtype=torch.float64))
    return q


def frechet_cases() -> list[tuple[str, tuple, float, list[tuple[float, str]]]]:
    """(description, (mu1, cov1, mu2, cov2), closed-form value, variants) for covariances that share
    eigenvectors, where tr sqrt(cov1 cov2) = sum_i sqrt(a_i b_i)."""
    cases = []
    specs = [("1-D: N(0.5, 2²) vs N(-1, 0.3²)", torch.tensor([0.5]), torch.tensor([-1.0]),
              torch.tensor([4.0]), torch.tensor([0.09]), torch.eye(1, dtype=torch.float64)),
             ("diagonal covariances, D=4", torch.tensor([0.0, 1.0, -2.0, 0.5]), torch.tensor([1.0, 1.0, 0.0, 0.0]),
              torch.tensor([1.0, 4.0, 0.25, 2.0]), torch.tensor([9.0, 1.0, 1.0, 0.5]),
              torch.eye(4, dtype=torch.float64)),
             ("covariances with shared eigenvectors but not diagonal, D=5", torch.linspace(-1, 1, 5),
              torch.linspace(1, -1, 5) * 0.5, torch.tensor([3.0, 2.0, 1.0, 0.5, 0.1]),
              torch.tensor([0.2, 1.5, 4.0, 0.5, 2.0]), rotation(5, 3))]
    for desc, mu1, mu2, a, b, q in specs:
        mu1, mu2, a, b = (t.double() for t in (mu1, mu2, a, b))
        cov1, cov2 = q @ torch.diag(a) @ q.T, q @ torch.diag(b) @ q.T
        d2 = float(((mu1 - mu2) ** 2).sum())
        traces = float(a.sum() + b.sum())
        expected = d2 + float(((a.sqrt() - b.sqrt()) ** 2).sum())
        variants = [
            (d2**0.5 + expected - d2, "the mean term is the SQUARED distance ||mu1 - mu2||²"),
            (d2 + traces - float((a * b).sqrt().sum()),
             "the cross term is -2 tr(sqrt(cov1 cov2)): the factor 2 is missing"),
            (d2 + traces - 2 * float((a * b).sum()),
             "the cross term is the trace of the matrix SQUARE ROOT of cov1 cov2"),
            (d2 + traces - 2 * float(torch.sqrt(cov1 @ cov2).trace()),
             "torch.sqrt is elementwise; the formula needs the matrix square root (through eigenvalues)"),
        ]
        cases.append((desc, (mu1, cov1, mu2, cov2), expected, variants))
    return cases


FRECHET_HINT = "compare with d² = ||mu1 - mu2||² + tr(cov1) + tr(cov2) - 2 tr(sqrt(cov1 cov2))"


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
    with case("a singular covariance (4 samples of 6 features: eigh returns its zero eigenvalues as tiny "
              "negatives) against itself"):
        features = torch.randn(4, 6, generator=seeded(5), dtype=torch.float64)
        mu, cov = features.mean(0), torch.cov(features.T)
        got = as_number(frechet_distance(mu, cov, mu, cov), "frechet_distance")
        expect_number(got, 0.0, "frechet_distance of a Gaussian with itself", [], FRECHET_HINT,
                          nan_hint=SINGULAR_HINT)


def kid_loops(a: torch.Tensor, b: torch.Tensor, degree: int = 3, scale: bool = True, offset: float = 1.0,
              unbiased: bool = True, cross: float = 2.0, own_sizes: bool = True) -> float:
    """KID from its definition, pair by pair; the keywords reproduce known mistakes."""
    a, b = a.double(), b.double()
    D = a.shape[1]

    def k(x, y):
        return float(((x @ y) / (D if scale else 1) + offset) ** degree)

    def within(x, size):
        n = len(x)
        pairs = [k(x[i], x[j]) for i in range(n) for j in range(n) if i != j or not unbiased]
        return sum(pairs) / (size * (size - 1) if unbiased else size * size)

    M, N = len(a), len(b)
    between = sum(k(a[i], b[j]) for i in range(M) for j in range(N)) / (M * N)
    return within(a, M) + within(b, N if own_sizes else M) - cross * between


def kid_variants(a: torch.Tensor, b: torch.Tensor) -> list[tuple[float, str]]:
    return [
        (kid_loops(a, b, unbiased=False), "leave out the i = j terms (the diagonal) of the within-set sums "
                                          "and divide by M(M - 1)"),
        (kid_loops(a, b, scale=False), "divide x·y by the feature dimension D inside the kernel"),
        (kid_loops(a, b, degree=2), "the kernel is cubed: (x·y / D + 1) ** 3"),
        (kid_loops(a, b, offset=0.0), "the kernel adds 1 before the cube: (x·y / D + 1) ** 3"),
        (kid_loops(a, b, cross=1.0), "the cross term counts twice: - 2 * mean of k(a_i, b_j)"),
        (kid_loops(a, b, own_sizes=False), "normalise each within-set sum by its own size: M(M-1) for a, N(N-1) for b"),
    ]


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
