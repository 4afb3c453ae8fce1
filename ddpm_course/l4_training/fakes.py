"""Fakes for what lesson 4's checks would otherwise need trained: a noise predictor, and small schedules.
They compute no exercise of this lesson, so grading may build them where the student's code runs (checking.Fake)."""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from ddpm_course.checking import Fake, fail
from ddpm_course.l3_diffusion.reference import NoiseSchedule, linear_beta_schedule


class StandInModel(Fake, nn.Module):
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
        if t.device.type == "meta":  # meta tensors hold no values: nothing to check, nor to record
            return self.predict(x, t)
        if int(t.min()) < 0 or int(t.max()) >= T:
            fail(f"the model was called at t = {int(t.max())}, outside 0..{T - 1}",
                 "steps are 0-based code indices as in lesson 3: the first call is at t = T-1, the last at t = 0")
        if not (t == t[0]).all():
            fail(f"the model was called with different steps in one batch: {t.tolist()}",
                 "every image of the batch is at the same step")
        self.calls.append(int(t[0]))
        return self.predict(x, t)

    def predict(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha_bar = rearrange(self.alpha_bars.to(x.device, x.dtype)[t], "b -> b 1 1 1")
        mean = self.mean.to(x.device, x.dtype)
        eps = torch.sqrt(1 - alpha_bar) * (x - torch.sqrt(alpha_bar) * mean) / (
            alpha_bar * self.spread**2 + 1 - alpha_bar)
        return (eps + 0.1 * torch.sqrt(alpha_bar) * torch.sin(3 * x)) * self.gain


class Schedule(Fake, NoiseSchedule):
    """Lesson 3's NoiseSchedule of these betas, as a stand-in the checks may lend to the student's code."""

    def __init__(self, betas: torch.Tensor) -> None:
        super().__init__(betas)


def toy_schedule(T: int) -> NoiseSchedule:
    """A linear schedule whose ᾱ reaches about 1e-3 at T, whatever T is."""
    return Schedule(linear_beta_schedule(T, 1e-3, min(0.999, 14 / T)))
