"""What lesson 4's checks compare with, in float64: DDIM's eq. 12 replayed step by step, FID in closed
form for covariances that share eigenvectors, KID from its definition as plain loops; and what
known mistakes compute instead, each with the hint that names it.
"""
from __future__ import annotations

import torch

from ddpm_course.checking import seeded
from ddpm_course.l4_training.fakes import StandInModel


def ddim_expected(model: StandInModel, alpha_bars: torch.Tensor, shape: tuple[int, ...], timesteps: list[int],
                  eta: float, seed: int, prev: str = "next", direction: str = "paper", add_noise: bool = True,
                  noise_scale: str = "sigma", x0_kind: str = "paper", clip: bool = False,
                  eps_kind: str = "implied") -> torch.Tensor:
    """Eq. 12 in float64 on `timesteps`, with the random numbers drawn in the prescribed order; with `clip`,
    x0_pred clipped to [-1, 1] and eps the noise it implies (eps_kind="model": the model's own, as diffusers does).

    The other keyword arguments reproduce known mistakes, so their outputs can name them in a hint
    (eps_kind="clamped" clips eps instead of x0_pred, x0_kind="from clamped x" clips x_t, "not last" skips
    the clip at the last step).
    """
    generator = seeded(seed)
    ab = alpha_bars.double()
    x = torch.randn(shape, generator=generator).double()
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            a = ab[t]
            last = ab[0] if prev == "last at 0" else torch.ones_like(a)
            if prev == "t-1":
                a_prev = ab[t - 1] if t > 0 else last
            else:
                a_prev = ab[timesteps[i + 1]] if i + 1 < len(timesteps) else last
            eps = model(x, torch.full((shape[0],), t, dtype=torch.long)).double()
            clipping = clip and not (eps_kind == "not last" and i + 1 == len(timesteps))
            if clipping and eps_kind == "clamped":
                eps = eps.clamp(-1, 1)
            seen = x.clamp(-1, 1) if clipping and eps_kind == "from clamped x" else x
            x0 = (seen - (1 - a if x0_kind == "no sqrt" else torch.sqrt(1 - a)) * eps) / torch.sqrt(a)
            if x0_kind == "clamped":  # clipped though clip_x0 is off
                x0 = x0.clamp(-1, 1)
            elif clipping and eps_kind in ("implied", "model", "not last"):
                x0 = x0.clamp(-1, 1)
                if eps_kind != "model":
                    eps = (x - torch.sqrt(a) * x0) / torch.sqrt(1 - a)
            sigma = eta * torch.sqrt((1 - a_prev) / (1 - a)) * torch.sqrt(1 - a / a_prev)
            kept = (1 - a_prev) if direction == "no sigma" else (1 - a_prev - sigma**2).clamp(min=0)
            x = torch.sqrt(a_prev) * x0 + torch.sqrt(kept) * eps
            if eta > 0 and i + 1 < len(timesteps):
                z = torch.randn(shape, generator=generator).double()
                if add_noise:
                    x = x + (sigma**2 if noise_scale == "variance" else sigma) * z
    return x


DDIM_CLIP_MISTAKES = {
    "clamped": "clip x0_pred, not the predicted noise: x0_pred = (x - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t), then "
               "clamp(-1, 1)",
    "from clamped x": "clip x0_pred, the clean guess, not x: x is noisy and far outside [-1, 1] early on",
    "not last": "clip at every step, the last one (t = 0) included",
}


def ddim_variants(model, alpha_bars, shape, timesteps, eta, seed, clip: bool = False) -> list[tuple[torch.Tensor, str]]:
    """What known DDIM mistakes output on the same steps and random numbers, with their hints."""
    def run(**kwargs):
        return ddim_expected(model, alpha_bars, shape, timesteps, kwargs.pop("eta", eta), seed,
                             clip=kwargs.pop("clip", clip), **kwargs)

    if clip:
        ignored = "clip_x0 has no effect: with clip_x0=True clamp x0_pred to [-1, 1] at every step"
        return [(run(clip=False), ignored)] + [(run(eps_kind=kind), hint) for kind, hint in DDIM_CLIP_MISTAKES.items()]

    variants = [
        (run(prev="t-1"), "alpha_bar_prev is ᾱ at the NEXT step of your subsequence (timesteps[i + 1]), "
                          "not at t - 1: DDIM skips steps"),
        (run(prev="last at 0"), "at the last step ᾱ_prev is 1, the clean image's, not alpha_bars[0]: "
                                "that step turns x into x0_pred"),
        (run(x0_kind="clamped"), "with clip_x0=False, do not clip x0_pred: leave out the clamp to [-1, 1]"),
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


def kid_loops(a: torch.Tensor, b: torch.Tensor, degree: int = 3, scale: bool = True, offset: float = 1.0,
              unbiased: bool = True, cross: float = 2.0, own_sizes: bool = True, pair_count: bool = True) -> float:
    """KID from its definition, pair by pair; the keywords reproduce known mistakes."""
    a, b = a.double(), b.double()
    D = a.shape[1]

    def k(x, y):
        return float(((x @ y) / (D if scale else 1) + offset) ** degree)

    def within(x, size):
        n = len(x)
        pairs = [k(x[i], x[j]) for i in range(n) for j in range(n) if i != j or not unbiased]
        return sum(pairs) / (size * (size - 1) if unbiased and pair_count else size * size)

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
        (kid_loops(a, b, pair_count=False), "without the diagonal a set of M has M(M - 1) pairs i != j: divide its "
                                            "within-set sum by that, not by M * M"),
    ]
