"""Fakes for lesson 3's checks: what the other exercises would give, without computing their answers.

`Schedule` stands in for the student's `NoiseSchedule` (same buffers, same index convention: index t
holds the paper's step t+1), holding tensors computed by closed_forms.py. `FakeDenoiser` stands in for
the network, with a prediction that is a known function of (x, t) and a record of how it was called.
`FakeQSample`, `FakeNoiseImg` and `FakeStep` stand in for q_sample, noise_img and p_sample_step while a
later exercise is graded: they keep the interface (which arguments, which random numbers in which order)
but compute a made-up map, so a mistake in the real one costs its own check only, and no answer ever
runs beside the student's code. `extract`, the lesson's one-line indexing helper, is lent as it is.

All of them may run where the student's code runs while grading (checking.Fake).
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ddpm_course.checking import Fake, fail


class Schedule(Fake, nn.Module):
    """The buffers a NoiseSchedule has (betas, alphas, alpha_bars), given; and max_steps, len()."""

    def __init__(self, betas: Tensor, alphas: Tensor, alpha_bars: Tensor) -> None:
        super().__init__()
        self.register_buffer("betas", betas.clone())
        self.register_buffer("alphas", alphas.clone())
        self.register_buffer("alpha_bars", alpha_bars.clone())

    @property
    def max_steps(self) -> int:
        return self.betas.shape[0]

    def __len__(self) -> int:
        return self.max_steps

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            raise AttributeError(f"the checks lend your code a stand-in schedule with the buffers betas, alphas and "
                                 f"alpha_bars, max_steps and len() only: it has no '{name}'. Compute what else you "
                                 f"need from those in your function") from None


class FakeDenoiser(Fake, nn.Module):
    """A stand-in network: predicts scale * tanh(x) + 0.05 * (t + 1), and records how it was called. (A scale
    past 1 makes a prediction that clipping would change, so that clipping the noise shows.)

    It fails the check with a pointed message when called with steps that are not a (B,) long
    tensor of 0-based indices, since that is the student's mistake, not the network's.
    """

    def __init__(self, max_steps: int, scale: float = 0.6) -> None:
        super().__init__()
        self.max_steps = max_steps
        self.scale = nn.Parameter(torch.tensor(scale))
        self.calls: list[tuple[Tensor, Tensor, bool]] = []

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if not isinstance(t, Tensor) or t.shape != (x.shape[0],) or t.dtype != torch.long:
            got = f"{type(t).__name__} {tuple(t.shape)} {t.dtype}" if isinstance(t, Tensor) else repr(t)
            fail(f"the model was called with steps {got}; it takes t as a (B,) torch.long tensor, one step per "
                 f"sample", "e.g. torch.full((B,), t, dtype=torch.long, device=x.device)")
        if t.device.type != "meta" and (t.min() < 0 or t.max() >= self.max_steps):  # meta tensors hold no values
            fail(f"the model was called with step {int(t.max() if t.max() >= self.max_steps else t.min())}, "
                 f"outside the 0-based steps 0..T-1 = 0..{self.max_steps - 1}",
                 "do not add 1 to t: the code's steps are 0-based")
        self.calls.append((x.detach().clone(), t.clone(), torch.is_grad_enabled()))
        return self.scale * torch.tanh(x) + 0.05 * rearrange((t + 1).to(x.dtype), "b -> b" + " 1" * (x.dim() - 1))

    def expected(self, x: Tensor, t: Tensor) -> Tensor:
        """What forward returns, in float64."""
        steps = (t + 1).double().reshape(-1, *[1] * (x.dim() - 1))
        return self.scale.detach().double() * torch.tanh(x.double()) + 0.05 * steps


class Replay(Fake, nn.Module):
    """A network that predicts the given noise whatever it is shown: a perfect denoiser for that noise."""

    def __init__(self, noise: Tensor) -> None:
        super().__init__()
        self.noise = noise
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.gain * self.noise.to(x.dtype)


def extract(coeffs: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """coeffs[t] shaped (B, 1, ..., 1); a step outside 0..T-1 fails naming the likely off-by-one."""
    T = coeffs.shape[0]
    if t.device.type != "meta" and (t.min() < 0 or t.max() >= T):  # meta tensors hold no values
        fail(f"a step t = {int(t.max() if t.max() >= T else t.min())} was used, outside the 0-based steps "
             f"0..T-1 = 0..{T - 1}", "an off-by-one: code index t holds the paper's step t+1, so draw t with "
                                     "torch.randint(0, T, ...), whose upper bound is exclusive")
    return coeffs[t].reshape(-1, *[1] * (x.dim() - 1))


def fake_q_sample(x0: Tensor, t: Tensor, schedule: nn.Module, noise: Tensor) -> Tensor:
    """A made-up map of q_sample's arguments, that no correct or known-wrong q_sample computes."""
    c = extract(schedule.alpha_bars, t, x0)
    return 0.5 * (1 + c) * x0 + 0.25 * noise + 0.125


class FakeQSample(Fake):
    """Stands in for q_sample as fake_q_sample, recording each call's arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[Tensor, Tensor, Tensor]] = []

    def __call__(self, x0: Tensor, t: Tensor, schedule: nn.Module, noise: Tensor) -> Tensor:
        self.calls.append((x0.detach().clone(), t.clone(), noise.detach().clone()))
        return fake_q_sample(x0, t, schedule, noise)


class FakeNoiseImg(Fake):
    """Stands in for noise_img: draws t, then the noise, as noise_img's docstring prescribes, and makes x_t with
    fake_q_sample; `last` is what it returned last."""

    def __init__(self) -> None:
        self.last: tuple[Tensor, Tensor, Tensor] | None = None

    def __call__(self, img: Tensor, schedule: nn.Module, generator: torch.Generator | None = None):
        t = torch.randint(0, schedule.max_steps, (img.shape[0],), generator=generator, device=img.device)
        noise = torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)
        self.last = (t, noise, fake_q_sample(img, t, schedule, noise))
        return self.last


def fake_step(x: Tensor, t: int, eps: Tensor, sigma: float, z: Tensor, clip: bool = False) -> tuple[Tensor, Tensor]:
    """A made-up reverse step: (x_prev, x0_pred) from x, the prediction eps and the noise z; with `clip`, its
    x0_pred is clamped to [-1, 1] and x_prev made from it."""
    x0_pred = x - 0.5 * eps
    if clip:
        x0_pred = x0_pred.clamp(-1, 1)
        return 0.6 * x0_pred + 0.3 * x + sigma * z + 0.01 * (t + 1), x0_pred
    return 0.9 * x - 0.2 * eps + sigma * z + 0.01 * (t + 1), x0_pred


class FakeStep(Fake):
    """Stands in for p_sample_step: calls the model once at t, draws z as p_sample_step's docstring prescribes,
    and makes a made-up step of it (its noise scale depends on `variance`, its map on `clip_x0`)."""

    SIGMA = {"beta": 0.3, "beta_tilde": 0.15}

    def __call__(self, model, x_t: Tensor, t: int, schedule: nn.Module, variance: str = "beta",
                 generator: torch.Generator | None = None, clip_x0: bool = False) -> tuple[Tensor, Tensor]:
        eps = model(x_t, torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long))
        z = (torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype) if t > 0
             else torch.zeros_like(x_t))
        x_prev, x0_pred = fake_step(x_t, t, eps.detach(), self.SIGMA.get(variance, 1.0), z, clip_x0)
        return x_prev.to(x_t.dtype), x0_pred.to(x_t.dtype)
