"""Stand-ins for the other exercises of lesson 3, so each check grades one exercise.

`Schedule` stands in for the student's `NoiseSchedule` (same buffers, same index convention:
index t holds the paper's step t+1), and `FakeDenoiser` for the network, with a prediction that
is a known function of (x, t) and a record of how it was called.
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ddpm_course.checking import fail


class Schedule(nn.Module):
    """The buffers a NoiseSchedule has, computed in float64 and stored in the betas' dtype."""

    def __init__(self, betas: Tensor) -> None:
        super().__init__()
        exact = betas.double()
        self.register_buffer("betas", betas.clone())
        self.register_buffer("alphas", (1 - exact).to(betas.dtype))
        self.register_buffer("alpha_bars", torch.cumprod(1 - exact, dim=0).to(betas.dtype))

    @property
    def max_steps(self) -> int:
        return self.betas.shape[0]

    def __len__(self) -> int:
        return self.max_steps


def linear_schedule(beta_start: float, beta_end: float, max_steps: int, dtype=torch.float32) -> Schedule:
    return Schedule(torch.linspace(beta_start, beta_end, max_steps, dtype=dtype))


class FakeDenoiser(nn.Module):
    """A stand-in network: predicts scale * tanh(x) + 0.05 * (t + 1), and records how it was called.

    It fails the check with a pointed message when called with steps that are not a (B,) long
    tensor of 0-based indices, since that is the student's mistake, not the network's.
    """

    def __init__(self, max_steps: int) -> None:
        super().__init__()
        self.max_steps = max_steps
        self.scale = nn.Parameter(torch.tensor(0.6))
        self.calls: list[tuple[Tensor, Tensor, bool]] = []

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if not isinstance(t, Tensor) or t.shape != (x.shape[0],) or t.dtype != torch.long:
            got = f"{type(t).__name__} {tuple(t.shape)} {t.dtype}" if isinstance(t, Tensor) else repr(t)
            fail(f"the model was called with steps {got}; it takes t as a (B,) torch.long tensor, one step per "
                 f"sample", "e.g. torch.full((B,), t, dtype=torch.long, device=x.device)")
        if t.min() < 0 or t.max() >= self.max_steps:
            fail(f"the model was called with step {int(t.max() if t.max() >= self.max_steps else t.min())}, "
                 f"outside the 0-based steps 0..T-1 = 0..{self.max_steps - 1}",
                 "do not add 1 to t: the code's steps are 0-based")
        self.calls.append((x.detach().clone(), t.clone(), torch.is_grad_enabled()))
        return self.scale * torch.tanh(x) + 0.05 * rearrange((t + 1).to(x.dtype), "b -> b" + " 1" * (x.dim() - 1))

    def expected(self, x: Tensor, t: Tensor) -> Tensor:
        """What forward returns, in float64."""
        steps = (t + 1).double().reshape(-1, *[1] * (x.dim() - 1))
        return self.scale.detach().double() * torch.tanh(x.double()) + 0.05 * steps


# Stand-ins for the student's own functions, put in place with checking.standing_in while a later
# exercise is graded: noise_img's check must not fail for a mistake in q_sample.
def extract(coeffs: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """coeffs[t] shaped (B, 1, ..., 1); a step outside 0..T-1 fails naming the likely off-by-one."""
    T = coeffs.shape[0]
    if t.min() < 0 or t.max() >= T:
        fail(f"a step t = {int(t.max() if t.max() >= T else t.min())} was used, outside the 0-based steps "
             f"0..T-1 = 0..{T - 1}", "an off-by-one: code index t holds the paper's step t+1, so draw t with "
                                     "torch.randint(0, T, ...), whose upper bound is exclusive")
    return coeffs[t].reshape(-1, *[1] * (x.dim() - 1))


def q_sample(x0: Tensor, t: Tensor, schedule: Schedule, noise: Tensor) -> Tensor:
    alpha_bar = extract(schedule.alpha_bars, t, x0)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def noise_img(img: Tensor, schedule: Schedule, generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
    t = torch.randint(0, schedule.max_steps, (img.shape[0],), generator=generator, device=img.device)
    noise = torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)
    return t, noise, q_sample(img, t, schedule, noise)


def p_sample_step(model: nn.Module, x_t: Tensor, t: int, schedule: Schedule, variance: str = "beta",
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Algorithm 2's step, drawing its noise as the docstring of p_sample_step prescribes."""
    from ddpm_course.l3_diffusion import closed_forms  # closed_forms builds on this module's Schedule
    eps = model(x_t, torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long))
    z = (torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype) if t > 0
         else torch.zeros_like(x_t))
    x_prev, x0_pred = closed_forms.p_sample_step(x_t, t, eps.detach(), schedule, z, variance)
    return x_prev.to(x_t.dtype), x0_pred.to(x_t.dtype)
