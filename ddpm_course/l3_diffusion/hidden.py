"""Hidden checks of lesson 3: more cases, edge cases, full-size schedules, and the statistics of the process.

Never released to students (generate_assignment copies only solutions/; the student bundle
leaves this file out). Each function is called in one line by a graded cell through
`ddpm_course.checking.run_hidden`.
"""
from __future__ import annotations

from typing import Callable

import torch
from einops import repeat

from ddpm_course.checking import case, check, expect_close, fail, isolated, seeded, standing_in
from ddpm_course.l3_diffusion import checks_forward, checks_sampling, closed_forms, fakes, reference


@check("linear_beta_schedule and cosine_beta_schedule (hidden)")
def beta_schedules(linear_beta_schedule: Callable, cosine_beta_schedule: Callable) -> None:
    checks_forward.beta_schedules(linear_beta_schedule, cosine_beta_schedule,
                                  linear_cases=[(2, 0.1, 0.2), (13, 1e-3, 0.05)],
                                  cosine_cases=[(1, 0.008), (17, 0.02), (1000, 0.008)])
    with case("default arguments: linear_beta_schedule(1000) is Ho et al.'s schedule"):
        checks_forward.expect_linear_schedule(linear_beta_schedule, 1000, 1e-4, 0.02, defaults=True)
    with case("default arguments: cosine_beta_schedule(1000) uses s = 0.008"):
        checks_forward.expect_cosine(cosine_beta_schedule, 1000, 0.008, defaults=True)


@check("NoiseSchedule (hidden)")
def noise_schedule(NoiseSchedule: type) -> None:
    cases = [reference.linear_beta_schedule(1000), reference.cosine_beta_schedule(1000),
             torch.tensor([0.3, 0.1, 0.6, 0.2], dtype=torch.float64), torch.tensor([0.5])]
    checks_forward.noise_schedule(NoiseSchedule, cases)
    with case("schedule.double() converts the buffers of a cosine schedule, values intact"):
        betas = reference.cosine_beta_schedule(50)
        schedule = NoiseSchedule(betas).double()
        checks_forward.expect_schedule(schedule, betas.double())


@check("extract, q_step, q_sample and q_moments (hidden)")
def forward_process(extract: Callable, q_step: Callable, q_sample: Callable, q_moments: Callable) -> None:
    extract_cases = [(1, [0], (1, 3)), (4, [3, 2, 1, 0, 3], (5, 1, 1, 2, 2))]
    shapes = [(2, 3, 4, 4), (5,), (1, 1, 2, 2)]
    cosine, linear = (closed_forms.schedule(reference.cosine_beta_schedule(20)),
                      closed_forms.linear_schedule(0.01, 0.3, 7, dtype=torch.float64))
    checks_forward.forward_cases(extract, q_step, q_sample, q_moments, cosine, extract_cases, shapes, seed=20)
    checks_forward.forward_cases(extract, q_step, q_sample, q_moments, linear, [], [(3, 2)], seed=40)
    with case("iterating q_step agrees in distribution with q_moments (4000 copies of 3 pixels, 8 steps)"):
        s = closed_forms.linear_schedule(0.05, 0.5, 10)
        pixels = torch.tensor([1.0, 0.3, -0.8])
        x = repeat(pixels, "d -> n d", n=4000)
        generator = seeded(60)
        for t in range(8):
            x, _ = isolated(q_step, x, torch.full((4000,), t), s, generator=generator)
        alpha_bar = s.alpha_bars.double()[7]
        expect_close(x.mean(0), alpha_bar.sqrt() * pixels.double(), "empirical mean after 8 steps", atol=0.06,
                     rtol=0, hint="q_step should scale x_prev by sqrt(1 - β) and add sqrt(β) z")
        expect_close(x.var(0), (1 - alpha_bar).expand(3), "empirical variance after 8 steps", atol=0.08, rtol=0,
                     hint="q_step should add noise of variance β = betas[t]")


@check("noise_img and reconstruct (hidden)")
def noise_img(noise_img: Callable, reconstruct: Callable) -> None:
    checks_forward.noise_img(noise_img, reconstruct, steps=3, seed=10)
    q_sample, lent_noise_img, lent_reconstruct = checks_forward.lent_forward_process(noise_img, reconstruct)
    with lent_noise_img, lent_reconstruct:
        noise_img_cases(noise_img, reconstruct, q_sample)


def noise_img_cases(noise_img: Callable, reconstruct: Callable, q_sample: fakes.FakeQSample) -> None:
    with case("T=1: every step is 0"):
        s = closed_forms.linear_schedule(0.1, 0.1, 1)
        t, _, _ = checks_forward.expect_noise_img(noise_img, s, torch.randn(50, 2, generator=seeded(30)), 31, q_sample)
        if t.any():
            fail(f"with T=1 every step should be 0, got {t.unique().tolist()}")
    with case("round trip: reconstruct(noise_img(img)) gives img back, cosine schedule T=1000, float64"):
        s = closed_forms.schedule(reference.cosine_beta_schedule(1000).double())
        img = torch.randn(16, 1, 3, 3, generator=seeded(32), dtype=torch.float64)
        t, noise, _ = checks_forward.expect_noise_img(noise_img, s, img, 33, q_sample)
        x_t = closed_forms.q_sample(img, t, s.alpha_bars, noise)
        expect_close(reconstruct(x_t, t, noise, s), img, "reconstruct(x_t, t, noise)", atol=1e-6)


@check("diffusion_loss (hidden)")
def diffusion_loss(diffusion_loss: Callable) -> None:
    checks_sampling.diffusion_loss(diffusion_loss, [(3, 1, 4, 4), (2, 7), (5, 2)], steps=20)
    with case("a model that returns the exact noise scores 0"):
        s = closed_forms.linear_schedule(0.02, 0.4, 10)
        x0 = torch.randn(4, 3, 2, generator=seeded(40))
        perfect = fakes.Replay(checks_sampling.drawn(x0, s.max_steps, 41)[1])
        with standing_in(diffusion_loss, noise_img=fakes.FakeNoiseImg()):
            loss, _ = isolated(diffusion_loss, perfect, x0, s, generator=seeded(41))
        expect_close(loss, torch.tensor(0.0), "loss", atol=1e-6, hint="the loss is the error of the noise prediction")


@check("p_sample_step (hidden)")
def reverse_step(p_sample_step: Callable) -> None:
    s = closed_forms.linear_schedule(0.05, 0.6, 5)
    n = 0
    for t in range(5):
        for variance in ("beta", "beta_tilde"):
            with case(f"x_t of shape (2, 3), t={t} of T=5, variance={variance!r}"):
                checks_sampling.expect_reverse_step(p_sample_step, s, (2, 3), t, variance, seed=50 + n)
            n += 1
    cosine = closed_forms.schedule(reference.cosine_beta_schedule(1000))
    for t in (999, 500, 1):
        with case(f"cosine schedule T=1000, t={t}, x_t (2, 1, 3, 3), variance='beta_tilde'"):
            checks_sampling.expect_reverse_step(p_sample_step, cosine, (2, 1, 3, 3), t, "beta_tilde", seed=70 + t)
    with case("float64 x_t, t=3 of T=5, variance='beta'"):
        checks_sampling.expect_reverse_step(p_sample_step, s, (3, 2), 3, "beta", seed=80, dtype=torch.float64)
    for t in (999, 1, 0):  # β = 0.999 at t = 999: where clipping matters most
        with case(f"clip_x0=True, cosine schedule T=1000, t={t}, x_t (2, 1, 3, 3), variance='beta_tilde'"):
            checks_sampling.expect_reverse_step(p_sample_step, cosine, (2, 1, 3, 3), t, "beta_tilde", seed=90 + t,
                                                clip=True)


@check("sample (hidden)")
def sampler(sample: Callable) -> None:
    checks_sampling.sampler(sample, [((2, 1, 3, 3), "beta_tilde", 7, False), ((4, 2), "beta", 30, False),
                                     ((1, 1, 2, 2), "beta_tilde", 5, True)], steps=20)
    with case("device='cpu' given as a string"):
        s = closed_forms.linear_schedule(0.05, 0.4, 4)
        model = fakes.FakeDenoiser(4)
        with standing_in(sample, p_sample_step=fakes.FakeStep()):
            (x, _), _ = isolated(sample, model, s, (2, 2), generator=seeded(90), device="cpu", progress=False)
        real, fake = (closed_forms.sample(model, s, (2, 2), "beta", 90, 0, fake=fake)[0] for fake in (False, True))
        expect_close(x, fake if torch.allclose(x.double(), fake, atol=1e-5) else real, "x_0")
