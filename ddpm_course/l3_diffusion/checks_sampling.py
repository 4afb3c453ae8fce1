"""Visible checks of lesson 3, Parts 3 and 4: the training loss, the reverse step and the sampler.

The model is `fakes.FakeDenoiser`, whose prediction is a known function of (x, t) and which
records how it was called, so the checks can say *how* the model was misused, not only that
the numbers differ. What the checks expect, they compute from their own inputs (closed_forms.py);
what the fake recorded only chooses the hint, since, while grading, it is recorded beside the
student's code.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ddpm_course.checking import (case, check, expect_close, expect_close_lazily, expect_tensor, fail, isolated, lend,
                                  seeded, standing_in)
from ddpm_course.l3_diffusion import closed_forms, fakes
from ddpm_course.l3_diffusion.closed_forms import GENERATOR_HINT

LOSS_HINT = ("F.mse_loss(model(x_t, t), noise) with (t, noise, x_t) from noise_img; the check lends you a correct "
             "noise_img, so the mistake is in diffusion_loss itself")


def drawn(x0: torch.Tensor, T: int, seed: int) -> tuple[Tensor, Tensor]:
    """The (t, noise) that noise_img draws from a generator seeded with `seed`, in the order of its docstring."""
    generator = seeded(seed)
    t = torch.randint(0, T, (x0.shape[0],), generator=generator)
    return t, torch.randn(x0.shape, generator=generator, dtype=x0.dtype)


def expect_loss(diffusion_loss: Callable, s: fakes.Schedule, shape: tuple[int, ...], seed: int) -> None:
    """One call of diffusion_loss with a fake model: how the model was called, and the loss's value."""
    x0 = torch.randn(shape, generator=seeded(seed))
    original = fakes.FakeDenoiser(s.max_steps)
    model = lend(original)
    loss, drew = isolated(diffusion_loss, model, x0, s, generator=seeded(seed + 100))
    calls = model.calls
    if len(calls) != 1:
        fail(f"the model was called {len(calls)} times; Algorithm 1 calls it once, on the whole noisy batch")
    if drew:
        fail("diffusion_loss drew from torch's global random generator although a generator was passed",
             "pass the generator on to noise_img")
    x_in, _, _ = calls[0]
    expect_tensor(x_in, shape, "the model's input", hint="call the model on the noisy batch x_t, shaped like x0")
    if torch.allclose(x_in.double(), x0.double()):
        fail("the model was given the clean x0; it must see the noisy x_t", "model(x_t, t), with x_t from noise_img")
    expect_tensor(loss, (), "loss", hint="return the scalar tensor that F.mse_loss gives: not a Python float, "
                                         "not one loss per sample")
    if not loss.requires_grad:
        fail("the loss carries no gradient to the model's parameters",
             "don't detach it, call .item() on it, or compute it under torch.no_grad()")
    t, noise = drawn(x0, s.max_steps, seed + 100)
    noise = noise.double()
    # x_t as the noise_img the check lends makes it, or as a noise_img written out in full makes it
    candidates = [fakes.fake_q_sample(x0.double(), t, s, noise), closed_forms.q_sample(x0, t, s.alpha_bars, noise)]
    x_t = min(candidates, key=lambda x: (x_in.double() - x).abs().max().item())
    pred = original.expected(x_t, t)
    expected = (pred - noise).pow(2).mean()
    other = (original.expected(candidates[0] if x_t is candidates[1] else candidates[1], t) - noise).pow(2).mean()
    if isinstance(loss, Tensor) and loss.shape == () and torch.isclose(loss.double(), other, rtol=1e-4, atol=1e-5):
        return
    expect_close(loss, expected, "loss", variants=[
        ((pred - x0.double()).pow(2).mean(), "the model predicts the noise ε: compare its output with the noise, "
                                             "not with x0"),
        ((pred - x_t).pow(2).mean(), "compare the model's output with the noise, not with x_t"),
        ((pred - noise).pow(2).sum(), "average the squared error over every element (F.mse_loss), don't sum it"),
        ((pred - noise).abs().mean(), "the loss is the *squared* error, not the absolute error"),
        ((pred - noise).pow(2).mean().sqrt(), "the loss is the mean squared error, without a square root"),
        ((original.expected(x_t, t + 1) - noise).pow(2).mean(),
         "the model got t + 1; pass it the 0-based t that x_t was made with"),
    ], hint=GENERATOR_HINT if drew else LOSS_HINT)
    loss.backward()
    grad = model.scale.grad
    if grad is None or grad == 0:
        fail("no gradient reached the model's parameters", "compute the loss from the model's output")


LOSS_CASES = [(6, 2, 3, 3), (1, 5)]


@check("diffusion_loss")
def diffusion_loss(diffusion_loss: Callable, cases=LOSS_CASES, steps: int = 8) -> None:
    with standing_in(diffusion_loss, noise_img=fakes.FakeNoiseImg()):  # noise_img has its own check
        loss_cases(diffusion_loss, cases, steps)


def loss_cases(diffusion_loss: Callable, cases, steps: int) -> None:
    s = closed_forms.linear_schedule(0.02, 0.4, steps)
    for seed, shape in enumerate(cases):
        with case(f"x0 of shape {shape}, T={steps}, a fake model whose prediction is known"):
            expect_loss(diffusion_loss, s, shape, seed)
    with case("two calls with generators seeded alike give the same loss"):
        x0 = torch.randn(4, 3, generator=seeded(9))
        model = fakes.FakeDenoiser(steps)
        first, second = (isolated(diffusion_loss, model, x0, s, generator=seeded(10))[0] for _ in range(2))
        if not torch.equal(first, second):
            fail("diffusion_loss is not reproducible with a seeded generator", "pass the generator on to noise_img")


def expect_reverse_step(p_sample_step: Callable, s: fakes.Schedule, shape: tuple[int, ...], t: int, variance: str,
                        seed: int, dtype: torch.dtype = torch.float32, clip: bool = False) -> None:
    """One reverse step against Algorithm 2; with `clip`, called with clip_x0=True on inputs spread wide enough that
    x0_pred leaves [-1, 1] (without it, clip_x0 is left to its default: an unclipped sampler passes)."""
    x = torch.randn(shape, generator=seeded(seed), dtype=dtype) * (3 if clip else 1)
    original = fakes.FakeDenoiser(s.max_steps, scale=2.5 if clip else 0.6)
    model = lend(original)
    extra = {"clip_x0": True} if clip else {}
    out, drew = isolated(p_sample_step, model, x, t, s, variance=variance, generator=seeded(seed + 100), **extra)
    if not (isinstance(out, tuple) and len(out) == 2):
        fail(f"p_sample_step should return a tuple (x_prev, x0_pred), got {type(out).__name__}")
    calls = model.calls
    if len(calls) != 1:
        fail(f"the model was called {len(calls)} times; one reverse step calls it once")
    steps = calls[0][1]
    if not torch.all(steps == t):
        fail(f"at t = {t} the model was called with steps {steps.tolist()}",
             "call it with the code index t itself, for every sample: torch.full((B,), t)")
    x_prev, x0_pred = out
    eps = original.expected(x, torch.full((shape[0],), t))
    z = torch.randn(shape, generator=seeded(seed + 100), dtype=dtype)
    expected_prev, expected_x0 = closed_forms.p_sample_step(x, t, eps, s, z, variance, clip)
    a = s.alpha_bars.double()[t]
    unclipped = closed_forms.p_sample_step(x, t, eps, s, z, variance)[1]
    expect_close(x0_pred, expected_x0, "x0_pred", variants=[
        ((x.double() - (1 - a).sqrt() * eps) / a, "divide by sqrt(ᾱ_t), not by ᾱ_t"),
        ((x.double() - (1 - a) * eps) / a.sqrt(), "the noise term is sqrt(1 - ᾱ_t) ε̂, with a square root"),
    ] + ([(unclipped, closed_forms.CLIP_MISTAKES["not at 0" if t == 0 else "ignored"])] if clip else [])
        + ([(closed_forms.p_sample_step(x, t, eps, s, z, variance, clip, clip_mistake=name)[1], hint)
            for name, hint in closed_forms.CLIP_MISTAKES.items() if name in ("eps", "x_t")] if clip else []),
        hint="x0_pred = (x_t - sqrt(1 - ᾱ_t) ε̂) / sqrt(ᾱ_t) with ᾱ_t = alpha_bars[t], as in reconstruct"
             + (", then clamped to [-1, 1]" if clip else ""))
    expect_close_lazily(x_prev, expected_prev, "x_prev",
                        lambda: closed_forms.p_sample_step_variants(x, t, eps, s, z, variance, clip),
                        hint=GENERATOR_HINT if drew else
                        "compare with Algorithm 2 term by term: the mean, then sqrt(σ_t²) z "
                                                  "with z = torch.randn(x_t.shape, generator=generator, ...)")


# (shape, t, variance, clip_x0)
REVERSE_CASES = [((3, 2, 4, 4), 6, "beta", False), ((3, 2, 4, 4), 6, "beta_tilde", False), ((2, 5), 0, "beta", False),
                 ((1, 3), 1, "beta_tilde", False), ((2, 1, 3, 3), 9, "beta_tilde", False),
                 ((3, 2, 4, 4), 6, "beta", True), ((2, 1, 3, 3), 9, "beta_tilde", True), ((2, 5), 0, "beta", True)]


@check("p_sample_step")
def reverse_step(p_sample_step: Callable, cases=REVERSE_CASES, steps: int = 10) -> None:
    s = closed_forms.linear_schedule(0.02, 0.3, steps)
    for seed, (shape, t, variance, clip) in enumerate(cases):
        with case(f"x_t of shape {shape}, t={t} of T={steps}, variance={variance!r}"
                  + (", clip_x0=True: x0_pred clipped to [-1, 1]" if clip else "")):
            expect_reverse_step(p_sample_step, s, shape, t, variance, seed, clip=clip)


def expect_sampler(sample: Callable, s: fakes.Schedule, shape: tuple[int, ...], variance: str, keep_every: int,
                   seed: int, clip: bool = False) -> None:
    T = s.max_steps
    original = fakes.FakeDenoiser(T)
    model = lend(original)
    extra = {"clip_x0": True} if clip else {}
    out, drew = isolated(sample, model, s, shape, variance=variance, generator=seeded(seed), progress=False,
                         keep_every=keep_every, **extra)
    if not (isinstance(out, tuple) and len(out) == 2):
        fail(f"sample should return a tuple (x_0, predictions), got {type(out).__name__}")
    x, kept = out
    calls = model.calls
    called = [int(t[0]) for _, t, _ in calls]
    expected_steps = list(range(T - 1, -1, -1))
    if called != expected_steps:
        hint = ("run the steps downwards, from T-1 to 0" if called == expected_steps[::-1]
                else "the last step, t = 0, is missing" if called == expected_steps[:-1]
                else "loop over range(T - 1, -1, -1): T-1, ..., 1, 0")
        fail(f"the model was called at steps {called}; Algorithm 2 runs t = T-1 down to 0: {expected_steps}", hint)
    if any(grad_enabled for _, _, grad_enabled in calls):
        fail("the model ran with gradients enabled", "wrap the sampling loop in `with torch.no_grad():`")
    expect_tensor(x, shape, "x_0", hint="the sample has the shape you asked for")
    # the sampler calls the p_sample_step the check lends (a made-up step), or runs Algorithm 2's step itself
    fake = not torch.allclose(x.double(), closed_forms.sample(original, s, shape, variance, seed, 0, clip=clip)[0],
                              atol=1e-5, rtol=1e-4)
    expected, expected_kept = closed_forms.sample(original, s, shape, variance, seed, keep_every, fake=fake, clip=clip)

    def other_variance() -> list[tuple[Tensor, str]]:
        found = [(closed_forms.sample(original, s, shape, variance, seed, keep_every, fake=fake)[0],
                  "pass `clip_x0` on to p_sample_step")] if clip else []
        if variance == "beta_tilde":
            found.append((closed_forms.sample(original, s, shape, "beta", seed, keep_every, fake=fake, clip=clip)[0],
                          "pass `variance` on to p_sample_step"))
        return found

    expect_close_lazily(x, expected, "x_0", other_variance,
                        hint=GENERATOR_HINT if drew else
                        "start from torch.randn(shape, generator=generator, device=device), "
                        "then x = p_sample_step(model, x, t, schedule, variance, generator)")
    at = [t for t in expected_steps if keep_every and t % keep_every == 0]
    if not isinstance(kept, list) or len(kept) != len(expected_kept):
        fail(f"with T={T} and keep_every={keep_every}, sample should return a list of {len(at)} x0 predictions "
             f"(at t = {at}), got {len(kept) if isinstance(kept, list) else type(kept).__name__}",
             "keep x0_pred whenever t % keep_every == 0; none when keep_every is 0")

    def mistakes(index: int, step: int) -> list[tuple[Tensor, str]]:
        kept_x = closed_forms.sample(original, s, shape, variance, seed, keep_every, keep="x_t", fake=fake,
                                     clip=clip)[1]
        every_step = closed_forms.sample(original, s, shape, variance, seed, keep_every=1, fake=fake, clip=clip)[1]
        return [(kept_x[index], "keep the x0 predictions, not x_t")] + [
            (pred, f"you kept the x0 prediction of step t = {other}; keep those of the steps with "
                   f"t % keep_every == 0: t = {at}")
            for other, pred in zip(expected_steps, every_step) if other != step]

    for index, (got, want, step) in enumerate(zip(kept, expected_kept, at)):
        expect_close_lazily(got, want, f"the x0 prediction kept at t = {step}", lambda: mistakes(index, step))


# (shape, variance, keep_every, clip_x0)
SAMPLER_CASES = [((3, 2, 2), "beta", 2, False), ((1, 4), "beta_tilde", 1, False), ((2, 3), "beta", 0, False),
                 ((2, 3), "beta", 1, True)]
DEVICE_HINT = "make every tensor on the device you sample on: torch.randn(shape, generator=generator, device=device)"


def expect_devices(sample: Callable, s: fakes.Schedule, shape: tuple[int, ...]) -> None:
    """Sampling on the meta device, another device than the CPU, as a GPU is: the sample stays there, and the kept
    predictions move to the CPU. (On meta, moving a tensor to the CPU raises: that is how a prediction moved shows.)"""
    model = lend(fakes.FakeDenoiser(s.max_steps))
    try:
        x, kept = isolated(sample, model, s, shape, device="meta", progress=False, keep_every=1)[0]
    except NotImplementedError as err:
        if "meta" in str(err):  # x0_pred.cpu(): the prediction moves to the CPU, as it should
            return
        raise
    if not isinstance(x, Tensor) or x.device.type != "meta":
        fail(f"asked for samples on the device 'meta', sample returned them on "
             f"{x.device if isinstance(x, Tensor) else type(x).__name__}", DEVICE_HINT)
    if kept and kept[0].device.type != "cpu":
        fail(f"the kept x0 predictions stay on {kept[0].device}: move each to the CPU", "predictions.append("
             "x0_pred.cpu()): a thousand predictions kept on a GPU would fill its memory")


@check("sample")
def sampler(sample: Callable, cases=SAMPLER_CASES, steps: int = 6) -> None:
    s = closed_forms.linear_schedule(0.05, 0.4, steps)
    for seed, (shape, variance, keep_every, clip) in enumerate(cases):
        with case(f"shape {shape}, T={steps}, variance={variance!r}, keep_every={keep_every}"
                  + (", clip_x0=True" if clip else "") + ", a fake model"), \
                standing_in(sample, p_sample_step=fakes.FakeStep()):  # p_sample_step has its own check
            expect_sampler(sample, s, shape, variance, keep_every, seed, clip=clip)
    with case(f"device='meta' (another device than the CPU, as a GPU is), shape {cases[0][0]}, T={steps}"), \
            standing_in(sample, p_sample_step=fakes.FakeStep()):
        expect_devices(sample, s, cases[0][0])
