"""Fakes for lesson 5's checks: a class-conditional noise predictor that needs no training, and a stand-in
for guided_eps while guided_sample is graded. They compute no exercise of this lesson (the stand-in mixes the
two predictions by a made-up rule), so grading may build them where the student's code runs (checking.Fake)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ddpm_course.checking import Fake, fail


def class_means(num_classes: int, shape: tuple[int, int, int], level: float = 0.8) -> Tensor:
    """(num_classes + 1, C, H, W): a distinct pattern per class, and their average for "no label" (the last row)."""
    C, H, W = shape
    grid = torch.linspace(0, 3, C * H * W).reshape(C, H, W)
    means = torch.stack([level * torch.sin(grid * (k + 1) + k) for k in range(num_classes)])
    return torch.cat([means, means.mean(0, keepdim=True)])


class FakeClassModel(Fake, nn.Module):
    """A conditional noise predictor: for label k, the exact one for data ~ N(means[k], spread^2) per pixel, plus
    0.1 sqrt(ᾱ) sin(3x + k) so that mistakes cannot cancel. means[-1] is "no label" (index num_classes).

    It records each call as (batch size, labels, steps) and fails cleanly when called with malformed steps or
    labels, since that is the student's mistake, not the network's."""

    def __init__(self, alpha_bars: Tensor, means: Tensor, spread: float = 0.5) -> None:
        super().__init__()
        self.alpha_bars, self.means, self.spread = alpha_bars, means, spread
        self.gain = nn.Parameter(torch.ones(()))  # a parameter: a loss must carry a gradient to it
        self.calls: list[tuple[int, list[int], list[int]]] = []

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        B = x.shape[0]
        K = self.means.shape[0] - 1
        if not isinstance(t, Tensor) or tuple(t.shape) != (B,) or t.dtype != torch.long:
            shown = f"a {tuple(t.shape)} {t.dtype} tensor" if isinstance(t, Tensor) else repr(t)
            fail(f"the model was called on {B} images with t = {shown}, expected a ({B},) torch.long tensor",
                 "one step per image: when you double the batch, double t too (torch.cat([t, t]))")
        if labels is None:
            fail("the model was called without labels", "pass the labels: model(x, t, labels)")
        if not isinstance(labels, Tensor) or tuple(labels.shape) != (B,) or labels.dtype != torch.long:
            shown = f"a {tuple(labels.shape)} {labels.dtype} tensor" if isinstance(labels, Tensor) else repr(labels)
            fail(f"the model was called on {B} images with labels = {shown}, expected a ({B},) torch.long tensor",
                 "one label per image: when you double the batch, give the second half the null label")
        if t.device.type == "meta":  # meta tensors hold no values: nothing to check, nor to record but the size
            self.calls.append((B, [], []))
            return self.predict(x, t, labels)
        T = len(self.alpha_bars)
        if int(t.min()) < 0 or int(t.max()) >= T:
            fail(f"the model was called at t = {int(t.max())}, outside 0..{T - 1}", "steps are 0-based code indices")
        if int(labels.min()) < 0 or int(labels.max()) > K:
            bad = int(labels.max()) if int(labels.max()) > K else int(labels.min())
            fail(f"the model was called with label {bad}: here the classes are 0..{K - 1} and 'no label' is "
                 f"{K} (null_index)", "use the null_index you were given for 'no label', not a constant")
        self.calls.append((B, labels.tolist(), t.tolist()))
        return self.predict(x, t, labels)

    def predict(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        """The prediction, in x's dtype (float64 for the closed forms)."""
        alpha_bar = self.alpha_bars.to(x.device, x.dtype)[t].reshape(-1, 1, 1, 1)
        mean = self.means.to(x.device, x.dtype)[labels]
        eps = torch.sqrt(1 - alpha_bar) * (x - torch.sqrt(alpha_bar) * mean) / (
            alpha_bar * self.spread**2 + 1 - alpha_bar)
        wiggle = torch.sin(3 * x + labels.to(x.dtype).reshape(-1, 1, 1, 1))
        return (eps + 0.1 * torch.sqrt(alpha_bar) * wiggle) * self.gain.to(x.dtype)


def fake_mix(eps_cond: Tensor, eps_uncond: Tensor, w: float) -> Tensor:
    """A made-up mix of the two predictions, that no correct or known-wrong guidance computes."""
    return 0.6 * eps_cond + 0.3 * eps_uncond + 0.02 * w


class FakeGuidance(Fake):
    """Stands in for guided_eps while guided_sample is graded: the same interface and one call of the model on
    the doubled batch, but the two halves mixed by fake_mix, so a mistake in guided_eps costs its own check only."""

    def __call__(self, model, x: Tensor, t: Tensor, labels: Tensor, w: float, null_index: int = 10) -> Tensor:
        B = x.shape[0]
        null = torch.full_like(labels, null_index)
        eps = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
        return fake_mix(eps[:B], eps[B:], w)
