"""Visible checks of lesson 3, Parts 1 and 2: the beta schedules, NoiseSchedule, the forward
process, noise_img and reconstruct. They compare with closed forms computed in float64
(closed_forms.py), on a stand-in schedule (fakes.Schedule). Randomness comes from seeded
generators; a student function that draws from torch's global generator instead runs inside
`isolated`, so the checks never change it.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ddpm_course.checking import (case, check, expect_close, expect_close_lazily, expect_tensor, fail, isolated, lend,
                                  seeded, standing_in)
from ddpm_course.l3_diffusion import closed_forms, fakes
from ddpm_course.l3_diffusion.closed_forms import GENERATOR_HINT


def broadcast_if_possible(value, shape: tuple[int, ...]):
    """value broadcast to shape when it is a tensor that broadcasts to exactly that shape, else value as is."""
    # by hand: torch.broadcast_shapes imports torch._refs, which costs a second on first use
    if (isinstance(value, Tensor) and value.dim() == len(shape)
            and all(size in (1, full) for size, full in zip(value.shape, shape))):
        return value.expand(shape)
    return value


LINEAR_CASES = [(10, 1e-4, 0.02), (7, 0.001, 0.3)]
COSINE_CASES = [(10, 0.008), (6, 0.0), (1000, 0.008)]  # T=1000: float32 loses digits near t = T, as the text warns


def expect_linear_schedule(linear_beta_schedule: Callable, max_steps: int, beta_start: float, beta_end: float,
                  defaults: bool = False) -> None:
    got = (linear_beta_schedule(max_steps) if defaults
           else linear_beta_schedule(max_steps, beta_start=beta_start, beta_end=beta_end))
    expect_tensor(got, (max_steps,), "betas", dtype=torch.float32, hint="one beta per step, float32")

    def evenly(n: int) -> Tensor:
        return torch.linspace(beta_start, beta_end, n, dtype=torch.float64)

    expect_close(got, evenly(max_steps), "betas", atol=1e-8, rtol=1e-6, variants=[
        (evenly(max_steps + 1)[1:], "betas[0] should be beta_start: index 0 holds the paper's β_1"),
        (evenly(max_steps + 1)[:-1], "the last beta should be beta_end"),
        (evenly(max_steps).flip(0), "the betas should grow from beta_start to beta_end"),
    ], hint="torch.linspace(beta_start, beta_end, max_steps)")


def expect_cosine(cosine_beta_schedule: Callable, max_steps: int, s: float, defaults: bool = False) -> None:
    got = cosine_beta_schedule(max_steps) if defaults else cosine_beta_schedule(max_steps, s=s)
    expect_tensor(got, (max_steps,), "betas", dtype=torch.float32,
                  hint="f needs T + 1 points, t = 0..T, which give T betas; return float32")
    expected = closed_forms.cosine_betas(max_steps, s)
    roughly = isinstance(got, Tensor) and torch.allclose(got.double(), expected, atol=1e-4, rtol=1e-2)
    top = float(got.max()) if isinstance(got, Tensor) and got.numel() else 0.999
    other_clip = [(closed_forms.cosine_betas(max_steps, s, clip=top), f"you clipped at {top:.6g}; clip every beta "
                   f"at 0.999: torch.clamp(betas, max=0.999)")] if 0.99 < top < 1 and abs(top - 0.999) > 1e-6 else []
    low = float(got.min()) if isinstance(got, Tensor) and got.numel() else 0.0
    clamped_below = [(expected.clamp(min=low, max=0.999), f"you clamped the betas from below, at {low:.6g}: clip only "
                      f"the top, at 0.999; the first betas (index 0: {float(expected[0]):.6g}) are smaller, and "
                      f"stay")] if low > float(expected.min()) * 1.01 else []
    expect_close(got, expected, "betas", atol=1e-6, rtol=1e-5, variants=other_clip + clamped_below + [
        (closed_forms.cosine_betas(max_steps, s, clip=None), "clip every beta at 0.999: torch.clamp(betas, max=0.999)"),
        (closed_forms.cosine_betas(max_steps, 0.0), "you left out the offset s in (t/T + s) / (1 + s)"),
        (closed_forms.cosine_betas(max_steps, s, square=False), "f(t) is the *square* of the cosine"),
        (closed_forms.cosine_betas(max_steps, s, return_alpha_bars=True),
         "you returned ᾱ_t; return the betas 1 - ᾱ_t / ᾱ_{t-1}"),
    ], hint="close, but not exact: compute in float64 (float32 loses digits in ᾱ_t / ᾱ_{t-1} near t = T), then "
            "convert with .float()" if roughly else
       "compare with the formula: f at t = 0..T, ᾱ_t = f(t) / f(0), β_t = 1 - ᾱ_t / ᾱ_{t-1}, clipped")


@check("linear_beta_schedule and cosine_beta_schedule")
def beta_schedules(linear_beta_schedule: Callable, cosine_beta_schedule: Callable, linear_cases=LINEAR_CASES,
                   cosine_cases=COSINE_CASES) -> None:
    for max_steps, start, end in linear_cases:
        with case(f"linear_beta_schedule({max_steps}, beta_start={start:g}, beta_end={end:g})"):
            expect_linear_schedule(linear_beta_schedule, max_steps, start, end)
    for max_steps, s in cosine_cases:
        with case(f"cosine_beta_schedule({max_steps}, s={s:g})"):
            expect_cosine(cosine_beta_schedule, max_steps, s)


def expect_schedule(schedule: nn.Module, betas: Tensor) -> None:
    """schedule has the three buffers, with values computed from betas in float64."""
    if not isinstance(schedule, nn.Module):
        fail(f"NoiseSchedule(...) should be an nn.Module, got {type(schedule).__name__}")
    buffers = dict(schedule.named_buffers())
    for name in ("betas", "alphas", "alpha_bars"):
        if name not in buffers:
            kind = "a plain attribute" if isinstance(getattr(schedule, name, None), Tensor) else "missing"
            fail(f"'{name}' is {kind}, not a registered buffer: schedule.to(device) would leave it behind",
                 f"self.register_buffer('{name}', tensor)")
        expect_tensor(buffers[name], betas.shape, name, dtype=betas.dtype,
                      hint="one value per step, in the betas' dtype")
    exact = betas.double()
    alphas = 1 - exact
    alpha_bars = torch.cumprod(alphas, 0)
    expect_close(schedule.betas, exact, "betas", atol=0, rtol=1e-7, hint="store the betas you are given")
    expect_close(schedule.alphas, alphas, "alphas", atol=1e-7, variants=[(exact, "alphas = 1 - betas")])
    expect_close(schedule.alpha_bars, alpha_bars, "alpha_bars", atol=1e-6, rtol=1e-5, variants=[
        (torch.cumsum(alphas, 0),
         "that is a cumulative sum; ᾱ is the cumulative *product* of the alphas (torch.cumprod)"),
        (torch.cat([torch.ones(1, dtype=torch.float64), alpha_bars[:-1]]),
         "off by one: alpha_bars[0] should be alphas[0] = 1 - β_1 (the paper's ᾱ_1), not 1: index t holds "
         "the paper's step t+1"),
        (torch.cumprod(exact, 0), "ᾱ is the cumulative product of the alphas, not of the betas"),
        (torch.cumprod(alphas.flip(0), 0).flip(0),
         "the cumulative product runs from the first step: torch.cumprod(alphas, dim=0)"),
    ])
    steps = len(betas)
    if schedule.max_steps != steps or len(schedule) != steps:
        fail(f"max_steps is {schedule.max_steps} and len() is {len(schedule)}, expected T = {steps}",
             "keep the max_steps property and __len__ from the stub; they read self.betas")


SCHEDULE_CASES = [torch.linspace(0.05, 0.5, 6), closed_forms.cosine_betas(9).float()]


@check("NoiseSchedule")
def noise_schedule(NoiseSchedule: type, cases=SCHEDULE_CASES) -> None:
    for betas in cases:
        with case(f"T={len(betas)}, betas from {betas[0]:.3g} to {betas[-1]:.3g}, {betas.dtype}"):
            given = betas.clone()
            schedule = NoiseSchedule(given)
            if not torch.equal(given, betas):
                fail("NoiseSchedule changed the betas tensor it was given", "compute alphas as a new tensor: 1 - betas")
            expect_schedule(schedule, betas)
    with case("schedule.to(torch.float64) converts every buffer, as .to(device) moves them"):
        schedule = NoiseSchedule(cases[0].clone()).to(torch.float64)
        for name in ("betas", "alphas", "alpha_bars"):
            dtype = getattr(schedule, name).dtype
            if dtype != torch.float64:
                fail(f"after .to(torch.float64), '{name}' is still {dtype}: .to('cuda') would leave it on the CPU",
                     f"self.register_buffer('{name}', tensor)")


EXTRACT_CASES = [(5, [3, 0, 4], (3,)), (5, [1, 1], (2, 7)), (6, [5, 0, 2], (3, 2, 4, 5))]


def forward_cases(extract: Callable, q_step: Callable, q_sample: Callable, q_moments: Callable,
                  s: fakes.Schedule, extract_cases, shapes: list[tuple[int, ...]], seed: int) -> None:
    """Value cases of the forward process with schedule s, for batches of these shapes."""
    T = s.max_steps
    for steps, indices, shape in extract_cases:
        with case(f"extract(coeffs of shape ({steps},), t={indices}, x of shape {shape})"):
            coeffs = torch.arange(steps, dtype=torch.float64) * 1.5 + 0.25
            t = torch.tensor(indices)
            got = extract(coeffs, t, torch.zeros(shape))
            expect_close(got, coeffs[t].reshape(-1, *[1] * (len(shape) - 1)), "extract(...)",
                         hint="pick coeffs[t], then add one axis of size 1 per trailing dim of x: (B, 1, ..., 1)")
    for i, shape in enumerate(shapes):
        gen = seeded(seed + i)
        x0 = torch.randn(shape, generator=gen)
        noise = torch.randn(shape, generator=gen)
        t = torch.randint(0, T, (shape[0],), generator=gen)
        t[0] = 0
        desc = f"x of shape {shape}, T={T}, t={t.tolist()}"
        with case(f"q_sample, {desc}"):
            expect_close_lazily(q_sample(x0, t, s, noise), closed_forms.q_sample(x0, t, s.alpha_bars, noise), "x_t",
                                lambda: closed_forms.q_sample_variants(x0, t, s, noise),
                                hint="x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise with ᾱ_t = alpha_bars[t]")
        with case(f"q_step with a seeded generator, {desc}"):
            got, drew = isolated(q_step, x0, t, s, generator=seeded(seed + 50 + i))
            z = torch.randn(shape, generator=seeded(seed + 50 + i))
            expect_close_lazily(got, closed_forms.q_step(x0, t, s.betas, z), "q_step(...)",
                                lambda: closed_forms.q_step_variants(x0, t, s, z),
                                hint=GENERATOR_HINT if drew else
                                "sqrt(1 - β) x_prev + sqrt(β) z with β = betas[t] and "
                                "z = torch.randn(x_prev.shape, generator=generator, ...)")
        with case(f"q_moments, {desc}"):
            first, again = (isolated(lambda g=g: (torch.manual_seed(g), q_moments(x0, t, s))[1])[0]
                            for g in (0, 1))
            if not (isinstance(first, tuple) and len(first) == 2):
                fail(f"q_moments should return a tuple (mean, variance), got {type(first).__name__}")
            mean, var = first
            if isinstance(var, Tensor) and isinstance(again[1], Tensor) and not torch.equal(var, again[1]):
                fail("q_moments returned a different variance on a second call: it is estimated from random "
                     "samples (torch.var of a draw)", "use the closed form: the variance of q(x_t | x_0) is 1 - ᾱ_t")
            a = closed_forms.coeff(s.alpha_bars, t, x0)
            expect_close(mean, closed_forms.q_sample(x0, t, s.alpha_bars, torch.zeros(shape)), "mean", variants=[
                (a * x0.double(), "the mean is sqrt(ᾱ_t) x0: ᾱ_t needs its square root")])
            var = broadcast_if_possible(var, shape)
            expect_close(var, (1 - a).expand(shape), "variance", variants=[
                ((1 - a).sqrt().expand(shape), "you returned the standard deviation sqrt(1 - ᾱ_t); return the "
                                               "variance 1 - ᾱ_t"),
                (a.expand(shape), "the variance is 1 - ᾱ_t, not ᾱ_t")],
                hint="use the closed form: the variance of q(x_t | x_0) is 1 - ᾱ_t, shaped like x0")


@check("extract, q_step, q_sample and q_moments")
def forward_process(extract: Callable, q_step: Callable, q_sample: Callable, q_moments: Callable) -> None:
    schedule = closed_forms.linear_schedule(0.05, 0.5, 10)
    forward_cases(extract, q_step, q_sample, q_moments, schedule, EXTRACT_CASES, [(3, 2, 3, 5), (1, 4)], seed=0)


def expect_noise_img(noise_img: Callable, s: fakes.Schedule, img: Tensor, seed: int,
                     q_sample: fakes.FakeQSample | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """One call of noise_img: types, shapes, and x_t against the closed form, or against the fake map of the
    q_sample lent to it (`q_sample`), if it called that. Returns (t, noise, x_t)."""
    calls = len(lend(q_sample).calls) if q_sample is not None else 0
    out, drew = isolated(noise_img, img, s, generator=seeded(seed))
    if not (isinstance(out, tuple) and len(out) == 3):
        fail(f"noise_img should return a tuple (t, noise, x_t), got {type(out).__name__}")
    t, noise, x_t = out
    B, T = img.shape[0], s.max_steps
    expect_tensor(t, (B,), "t", dtype=torch.long, hint="one step per sample, torch.long (torch.randint)")
    expect_tensor(noise, img.shape, "noise", dtype=img.dtype, hint="noise shaped like img, with its dtype")
    if drew:
        fail("noise_img drew from torch's global random generator although a generator was passed", GENERATOR_HINT)
    if t.min() < 0 or t.max() >= T:
        fail(f"t should hold 0-based steps in 0..T-1 = 0..{T - 1}, got values from {int(t.min())} to {int(t.max())}",
             "torch.randint(0, T, ...): its upper bound is exclusive")
    if q_sample is not None and len(lend(q_sample).calls) > calls:  # it called the q_sample the check lent it
        expect_close(x_t, fakes.fake_q_sample(img.double(), t, s, noise.double()), "x_t", variants=[
            (fakes.fake_q_sample(noise.double(), t, s, img.double()), "the arguments of q_sample are (x0, t, "
                                                                       "schedule, noise): img first, then the noise")],
            hint="return q_sample(img, t, schedule, noise) with the t and the noise you return; the check lends you a "
                 "stand-in q_sample, so x_t is what it gives")
    else:
        expect_close_lazily(x_t, closed_forms.q_sample(img, t, s.alpha_bars, noise), "x_t",
                            lambda: closed_forms.q_sample_variants(img, t, s, noise),
                            hint="x_t = q_sample(img, t, schedule, noise)")
    return t, noise, x_t


def expect_noise_img_device(noise_img: Callable, s: fakes.Schedule) -> None:
    """t and the noise are drawn on the images' device, whatever it is (meta: tensors without values)."""
    on_meta = fakes.Schedule(*(v.to("meta") for v in (s.betas, s.alphas, s.alpha_bars)))
    try:
        out, _ = isolated(noise_img, torch.empty(3, 1, 4, 4, device="meta"), on_meta)
    except RuntimeError as err:
        if "device" not in str(err):
            raise
        fail(f"on the device 'meta', noise_img raised: {str(err)[:200]}", DEVICE_HINT)
    for name, value in zip(("t", "noise", "x_t"), out):
        if not isinstance(value, Tensor) or value.device.type != "meta":
            fail(f"for images on the device 'meta', noise_img returned {name} on "
                 f"{value.device if isinstance(value, Tensor) else type(value).__name__}", DEVICE_HINT)


DEVICE_HINT = "draw t and the noise on the images' device: torch.randint(..., device=img.device), " \
              "torch.randn(img.shape, ..., device=img.device)"


def lent_forward_process(noise_img: Callable, reconstruct: Callable):
    """noise_img and reconstruct run with stand-ins for q_sample and extract: the student's own are graded by
    forward_process alone. Yields the stand-in q_sample."""
    q_sample = fakes.FakeQSample()
    return q_sample, standing_in(noise_img, q_sample=q_sample, extract=fakes.extract), \
        standing_in(reconstruct, extract=fakes.extract)


@check("noise_img and reconstruct")
def noise_img(noise_img: Callable, reconstruct: Callable, steps: int = 5, seed: int = 0) -> None:
    q_sample, lent_noise_img, lent_reconstruct = lent_forward_process(noise_img, reconstruct)
    with lent_noise_img, lent_reconstruct:
        noise_img_cases(noise_img, reconstruct, steps, seed, q_sample)


def noise_img_cases(noise_img: Callable, reconstruct: Callable, steps: int, seed: int,
                    q_sample: fakes.FakeQSample) -> None:
    s = closed_forms.linear_schedule(0.05, 0.5, steps)
    with case(f"B=2000 points of dim 6, T={steps}: how t and the noise are distributed"):
        img = torch.randn(2000, 6, generator=seeded(seed))
        t, noise, _ = expect_noise_img(noise_img, s, img, seed + 1, q_sample)
        counts = torch.bincount(t, minlength=steps)
        if len(t.unique()) == 1:
            fail(f"every sample got the same step t = {int(t[0])}", "draw one step per sample: shape (B,)")
        if counts[0] == 0 or counts[-1] == 0:
            missing = 0 if counts[0] == 0 else steps - 1
            fail(f"t never takes the value {missing} in 2000 draws; it should be uniform over the 0-based steps "
                 f"0..T-1 = 0..{steps - 1}", "torch.randint(0, T, (B,)): 0 included, T excluded")
        if torch.equal(noise[0], noise[1]):
            fail("every sample got the same noise",
                 "draw noise shaped like the whole batch: torch.randn(img.shape, ...)")
        mean, std = noise.mean().item(), noise.std().item()
        if abs(mean) > 0.05 or abs(std - 1) > 0.05:
            fail(f"the noise should be standard normal, but its mean is {mean:.3f} and its std {std:.3f}",
                 "use torch.randn (normal), not torch.rand (uniform on [0, 1))")
    with case("batch 1, an image (1, 1, 5, 7) in float64"):
        img = torch.randn(1, 1, 5, 7, generator=seeded(seed + 2), dtype=torch.float64)
        expect_noise_img(noise_img, s, img, seed + 3, q_sample)
    with case("two calls with generators seeded alike give the same (t, noise, x_t)"):
        img = torch.randn(3, 1, 4, 5, generator=seeded(seed + 4))
        first, second = (isolated(noise_img, img, s, generator=seeded(seed + 5))[0] for _ in range(2))
        if not all(torch.equal(a, b) for a, b in zip(first, second)):
            fail("noise_img is not reproducible with a seeded generator", GENERATOR_HINT)
    with case("an image batch (3, 1, 4, 4) on the device 'meta' (another device than the CPU, as a GPU is)"):
        expect_noise_img_device(noise_img, s)
    exact = closed_forms.linear_schedule(0.05, 0.5, steps, dtype=torch.float64)
    for shape in ((4, 2, 3, 3), (1, 6)):
        with case(f"reconstruct inverts q_sample, x_t of shape {shape}, float64"):
            gen = seeded(seed + 6)
            x0, noise = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(2))
            t = torch.tensor([0, steps - 1, 2, 1][:shape[0]])
            x_t = closed_forms.q_sample(x0, t, exact.alpha_bars, noise)
            a = closed_forms.coeff(exact.alpha_bars, t, x0)
            expect_close(reconstruct(x_t, t, noise, exact), x0, "x0", atol=1e-8, variants=[
                ((x_t - (1 - a).sqrt() * noise) / a, "divide by sqrt(ᾱ_t), the coefficient of x0, not by ᾱ_t"),
                ((x_t - (1 - a) * noise) / a.sqrt(), "subtract sqrt(1 - ᾱ_t) noise, the coefficient of the noise"),
                ((x_t + (1 - a).sqrt() * noise) / a.sqrt(), "sign error: subtract the noise term"),
                (x_t - (1 - a).sqrt() * noise, "divide by sqrt(ᾱ_t) after subtracting the noise term")],
                hint="solve x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise for x0")
