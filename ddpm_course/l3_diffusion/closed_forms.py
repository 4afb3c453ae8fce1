"""Closed forms for the lesson 3 checks, in float64, and what known mistakes compute
instead, each paired with the hint that names the mistake. They compute the lesson's answers:
the checks use them, and grading keeps them in the checker, out of the student's process.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ddpm_course.checking import seeded
from ddpm_course.l3_diffusion.fakes import FakeDenoiser, FakeStep, Schedule, fake_step

GENERATOR_HINT = ("your function drew from torch's global random generator: pass generator=generator to "
                  "torch.randn / torch.randint, as the docstring says")


def cosine_betas(max_steps: int, s: float = 0.008, clip: float | None = 0.999, square: bool = True,
                 return_alpha_bars: bool = False) -> Tensor:
    """The improved-DDPM cosine schedule in float64; the keyword arguments reproduce known mistakes."""
    steps = torch.arange(max_steps + 1, dtype=torch.float64) / max_steps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** (2 if square else 1)
    alpha_bars = f / f[0]
    if return_alpha_bars:
        return alpha_bars[1:]
    betas = 1 - alpha_bars[1:] / alpha_bars[:-1]
    return betas if clip is None else betas.clamp(max=clip)


def schedule(betas: Tensor) -> Schedule:
    """A stand-in schedule for these betas: alphas and alpha_bars computed in float64, stored in the betas' dtype."""
    exact = betas.double()
    return Schedule(betas, (1 - exact).to(betas.dtype), torch.cumprod(1 - exact, dim=0).to(betas.dtype))


def linear_schedule(beta_start: float, beta_end: float, max_steps: int, dtype=torch.float32) -> Schedule:
    return schedule(torch.linspace(beta_start, beta_end, max_steps, dtype=dtype))


def coeff(values: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """values[t] in float64, shaped (B, 1, ..., 1) to broadcast against x."""
    return values.double()[t].reshape(-1, *[1] * (x.dim() - 1))


def q_sample(x0: Tensor, t: Tensor, alpha_bars: Tensor, noise: Tensor, mean_power: float = 0.5,
             noise_power: float = 0.5) -> Tensor:
    """sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise; the powers reproduce missing square roots."""
    a = coeff(alpha_bars, t, x0)
    return a ** mean_power * x0.double() + (1 - a) ** noise_power * noise.double()


def q_sample_variants(x0: Tensor, t: Tensor, s: Schedule, noise: Tensor) -> list[tuple[Tensor, str]]:
    exclusive = torch.cat([torch.ones(1, dtype=torch.float64), s.alpha_bars.double()[:-1]])
    return [
        (q_sample(x0, t, s.alpha_bars, noise, mean_power=1.0),
         "x0 is scaled by ᾱ_t; ᾱ_t is a variance, the coefficient is its square root: sqrt(ᾱ_t) x0"),
        (q_sample(x0, t, s.alpha_bars, noise, noise_power=1.0),
         "the noise is scaled by the variance 1 - ᾱ_t; scale it by the standard deviation sqrt(1 - ᾱ_t)"),
        (q_sample(x0, t, s.alpha_bars, noise, 1.0, 1.0),
         "both coefficients are missing their square roots: sqrt(ᾱ_t) and sqrt(1 - ᾱ_t)"),
        (q_sample(x0, t - 1, s.alpha_bars, noise), "off by one: you used alpha_bars[t-1]; the code's index t "
                                                     "holds the paper's step t+1, so use alpha_bars[t]"),
        (q_sample(x0, t, exclusive, noise), "off by one: your ᾱ at index t is the product of alphas[0..t-1]; "
                                            "alpha_bars[t] includes alphas[t]"),
        (q_sample(x0, t, s.alphas, noise), "you used alphas[t]; the closed form needs the cumulative product "
                                           "alpha_bars[t]"),
        (q_sample(noise, t, s.alpha_bars, x0), "the coefficients of x0 and of the noise are swapped"),
    ]


def q_step(x: Tensor, t: Tensor, betas: Tensor, z: Tensor, power: float = 0.5, noise_power: float = 0.5) -> Tensor:
    b = coeff(betas, t, x)
    return (1 - b) ** power * x.double() + b ** noise_power * z.double()


def q_step_variants(x: Tensor, t: Tensor, s: Schedule, z: Tensor) -> list[tuple[Tensor, str]]:
    return [
        (q_step(x, t, s.betas, z, noise_power=1.0),
         "the noise is scaled by the variance β; scale it by the standard deviation sqrt(β)"),
        (q_step(x, t, s.betas, z, power=1.0, noise_power=1.0),
         "1 - β and β are variances; the coefficients are sqrt(1 - β) and sqrt(β)"),
        (q_step(x, t, 1 - s.alpha_bars.double(), z),
         "q_step is a single step: it uses β = betas[t], not the cumulative ᾱ = alpha_bars[t]"),
        (q_step(x, t - 1, s.betas, z), "off by one: step t uses betas[t], not betas[t-1]"),
    ]


def p_sample_step(x: Tensor, t: int, eps: Tensor, s: Schedule, z: Tensor, variance: str, clip: bool = False, *,
                  sigma_power: float = 0.5, noise_at_zero: bool = False, prev_is_current: bool = False,
                  tilde_inverted: bool = False, variance_swapped: bool = False, mean_alpha: str = "alpha",
                  mean_eps: str = "beta", clip_mistake: str = "") -> tuple[Tensor, Tensor]:
    """(x_{t-1}, x0_pred) of Algorithm 2 in float64, with x0_pred clipped to [-1, 1] and the posterior mean taken
    from it when `clip`; the keyword arguments reproduce known mistakes (clip_mistake: "eps" clips the noise
    instead, "mean" keeps the noise form of the mean, "x_t" clips x_t, "not at 0" skips the clip at t = 0)."""
    x, eps, z = x.double(), eps.double(), z.double()
    beta, alpha, alpha_bar = (v.double()[t] for v in (s.betas, s.alphas, s.alpha_bars))
    alpha_bar_prev = s.alpha_bars.double()[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
    if prev_is_current:
        alpha_bar_prev = alpha_bar
    clip = clip and not (clip_mistake == "not at 0" and t == 0)
    if clip and clip_mistake == "eps":
        eps = eps.clamp(-1, 1)
    seen = x.clamp(-1, 1) if clip and clip_mistake == "x_t" else x
    x0_pred = (seen - torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha_bar)
    eps_coeff = {"beta": beta / torch.sqrt(1 - alpha_bar), "sqrt": torch.sqrt(1 - alpha_bar), "none": beta}[mean_eps]
    divisor = {"alpha": torch.sqrt(alpha), "alpha_bar": torch.sqrt(alpha_bar), "none": 1.0}[mean_alpha]
    mean = (x - eps_coeff * eps) / divisor
    if clip:
        if clip_mistake not in ("eps", "x_t"):
            x0_pred = x0_pred.clamp(-1, 1)
        if clip_mistake != "mean":
            mean = (torch.sqrt(alpha_bar_prev) * beta * x0_pred + torch.sqrt(alpha) * (1 - alpha_bar_prev) * x) \
                / (1 - alpha_bar)
    if t == 0 and not noise_at_zero:
        return mean, x0_pred
    if variance_swapped:
        variance = "beta" if variance == "beta_tilde" else "beta_tilde"
    ratio = (1 - alpha_bar) / (1 - alpha_bar_prev) if tilde_inverted else (1 - alpha_bar_prev) / (1 - alpha_bar)
    sigma2 = beta if variance == "beta" else ratio * beta
    return mean + sigma2 ** sigma_power * z, x0_pred


CLIP_MISTAKES = {
    "eps": "clip x0_pred, not the predicted noise: x0_pred = (x_t - sqrt(1 - ᾱ_t) ε̂) / sqrt(ᾱ_t), then clamp(-1, 1)",
    "mean": "with clip_x0 the mean comes from the clipped x0_pred, through the posterior formula μ̃(x_t, x0_pred): "
            "the ε̂ form ignores the clipping",
    "x_t": "clip x0_pred, the clean guess, not x_t: x_t is noisy and far outside [-1, 1] at large t",
    "not at 0": "clip at every step, t = 0 included: the last step returns the clipped guess itself",
    "ignored": "clip_x0 has no effect: with clip_x0=True clamp x0_pred to [-1, 1] and take the mean from it",
}


def p_sample_step_variants(x: Tensor, t: int, eps: Tensor, s: Schedule, z: Tensor,
                           variance: str, clip: bool = False) -> list[tuple[Tensor, str]]:
    """What a wrong x_{t-1} looks like, with the hint that names the mistake."""
    mistakes = [
        (dict(sigma_power=1.0), "σ_t is a standard deviation: the noise term is sqrt(σ_t²) z; you scaled z by the "
                                "variance σ_t² itself"),
        (dict(noise_at_zero=True), "no noise at t = 0: the last step returns the mean"),
        (dict(mean_alpha="none"), "the mean is missing the factor 1 / sqrt(α_t)"),
        (dict(mean_alpha="alpha_bar"), "the mean divides by sqrt(α_t), the one-step α = alphas[t], not sqrt(ᾱ_t)"),
        (dict(mean_eps="sqrt"), "the noise coefficient in the mean is β_t / sqrt(1 - ᾱ_t), not sqrt(1 - ᾱ_t)"),
        (dict(mean_eps="none"), "the noise coefficient in the mean is β_t / sqrt(1 - ᾱ_t), not β_t"),
    ]
    if variance == "beta_tilde":
        mistakes += [
            (dict(prev_is_current=True),
             "with variance='beta_tilde' your σ² equals β_t: β̃_t needs the previous ᾱ_{t-1} = alpha_bars[t-1] "
             "where you used ᾱ_t = alpha_bars[t] (or you ignored `variance`)"),
            (dict(tilde_inverted=True), "β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t: your fraction is upside down"),
        ]
    else:
        mistakes.append((dict(variance_swapped=True), "variance='beta' means σ_t² = β_t; you used β̃_t"))
    variants = [(p_sample_step(x, t, eps, s, z, variance, clip, **kwargs)[0], hint) for kwargs, hint in mistakes]
    if clip:
        variants += [(p_sample_step(x, t, eps, s, z, variance, True, clip_mistake=name)[0], hint)
                     for name, hint in CLIP_MISTAKES.items() if name != "ignored"]
        variants.append((p_sample_step(x, t, eps, s, z, variance)[0], CLIP_MISTAKES["ignored"]))
    if t == 0:  # the posterior mean through x0_pred, with ᾱ_{t-1} read as alpha_bars[-1]
        beta, alpha, alpha_bar, last = (v.double()[i] for v, i in ((s.betas, 0), (s.alphas, 0), (s.alpha_bars, 0),
                                                                   (s.alpha_bars, -1)))
        x0_pred = (x.double() - torch.sqrt(1 - alpha_bar) * eps.double()) / torch.sqrt(alpha_bar)
        variants.append(((torch.sqrt(last) * beta * x0_pred + torch.sqrt(alpha) * (1 - last) * x.double())
                         / (1 - alpha_bar), "at t = 0, alpha_bars[t - 1] is alpha_bars[-1]: Python wraps around to "
                                            "the last step. ᾱ_{t-1} at t = 0 is 1"))
    return variants


def sample(model: FakeDenoiser, s: Schedule, shape: tuple[int, ...], variance: str, seed: int,
           keep_every: int, keep: str = "x0_pred", fake: bool = False,
           clip: bool = False) -> tuple[Tensor, list[Tensor]]:
    """Algorithm 2 in float64, drawing the same float32 noise, in the same order, as the sampler should.

    keep="x_t" keeps the sample instead of the x0 prediction, as a known mistake would; fake=True runs the
    made-up step of fakes.FakeStep instead of Algorithm 2's, as a sampler that calls the lent step does;
    clip: every step with clip_x0.
    """
    generator = seeded(seed)
    x = torch.randn(shape, generator=generator).double()
    kept = []
    for t in range(s.max_steps - 1, -1, -1):
        z = torch.randn(shape, generator=generator) if t > 0 else torch.zeros(shape)
        eps = model.expected(x, torch.full((shape[0],), t))
        if fake:
            x, x0_pred = fake_step(x, t, eps, FakeStep.SIGMA.get(variance, 1.0), z.double(), clip)
        else:
            x, x0_pred = p_sample_step(x, t, eps, s, z, variance, clip)
        if keep_every and t % keep_every == 0:
            kept.append(x0_pred if keep == "x0_pred" else x)
    return x, kept
