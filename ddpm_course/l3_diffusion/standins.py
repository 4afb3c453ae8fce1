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
