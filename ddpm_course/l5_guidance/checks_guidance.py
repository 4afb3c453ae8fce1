"""Visible checks of lesson 5, Parts 3 and 4: the guided prediction and the guided sampler.

Both run on a fake conditional noise predictor (fakes.py) and are compared with their formulas replayed on the
same random numbers; guided_sample gets a stand-in for guided_eps, so a mistake in one costs that exercise alone.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ddpm_course.checking import (case, check, expect_close_lazily, expect_tensor, fail, isolated, lend, seeded,
                                  standing_in)
from ddpm_course.l4_training.fakes import toy_schedule
from ddpm_course.l5_guidance import closed_forms
from ddpm_course.l5_guidance.checks_model import expect_on_meta
from ddpm_course.l5_guidance.fakes import FakeClassModel, FakeGuidance, class_means


# ---------------------------------------------------------------------------------------------------------------
# Part 3: the guided prediction

GUIDE_HINT = "ε̃ = ε∅ + w (εc - ε∅), with εc = model(x, t, labels) and ε∅ = model(x, t, null labels)"


def expect_guided(guided_eps: Callable, shape, labels: list[int], w: float, K: int, T: int, seed: int) -> None:
    schedule = toy_schedule(T)
    original = FakeClassModel(schedule.alpha_bars, class_means(K, shape[1:]))
    model = lend(original)
    model.calls = []
    B = shape[0]
    x = torch.randn(shape, generator=seeded(seed))
    t = torch.randint(0, T, (B,), generator=seeded(seed + 1))
    y = torch.tensor(labels)
    with torch.no_grad():
        got = guided_eps(model, x, t, y, w, K)
    calls = list(model.calls)
    if len(calls) != 1:
        sizes = [size for size, _, _ in calls]
        fail(f"guided_eps called the model {len(calls)} times (on batches of {sizes}), expected ONE call on a batch "
             f"of 2B = {2 * B}", "concatenate: model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, "
                                 "null])), then split the output with .chunk(2)")
    size, seen, steps = calls[0]
    if size != 2 * B or sorted(seen) != sorted(labels + [K] * B):
        fail(f"the model saw a batch of {size} with labels {seen}, expected {2 * B}: the labels {labels} and "
             f"{B} times 'no label' ({K})", "the unconditional half gets null_index, not a real class"
             if size == 2 * B else "one call on the doubled batch: labels, then the null labels")
    expect_tensor(got, shape, "the guided prediction")
    expected = closed_forms.guided(original, x, t, y, w, K)
    expect_close_lazily(got, expected, "the guided prediction", atol=1e-5, rtol=1e-4, hint=GUIDE_HINT,
                        variants=lambda: closed_forms.guided_variants(original, x, t, y, w, K))


# (shape, labels, w, num_classes, T)
GUIDE_CASES = [((3, 1, 4, 4), [0, 2, 1], 3.0, 3, 20), ((2, 2, 3, 5), [1, 1], 0.5, 4, 30),
               ((1, 1, 4, 4), [2], 2.0, 3, 20), ((2, 1, 3, 3), [0, 1], 0.0, 2, 10), ((2, 1, 3, 3), [1, 0], 1.0, 2, 10)]


@check("guided_eps")
def guidance(guided_eps: Callable, cases=GUIDE_CASES) -> None:
    for seed, (shape, labels, w, K, T) in enumerate(cases):
        note = {0.0: " (w=0: the unconditional prediction)", 1.0: " (w=1: the conditional prediction)"}.get(w, "")
        with case(f"shape={shape}, labels={labels}, w={w:g}{note}, null_index={K}, a fake model"):
            expect_guided(guided_eps, shape, labels, w, K, T, seed)
    with case("device='meta' (another device than the CPU, as a GPU is): x, t and 4 labels there, a fake model"):
        model = lend(FakeClassModel(toy_schedule(10).alpha_bars, class_means(3, (1, 3, 3))))
        x, t = torch.empty(4, 1, 3, 3, device="meta"), torch.zeros(4, dtype=torch.long, device="meta")
        expect_on_meta(lambda labels: guided_eps(model, x, t, labels, 2.0, 3), "guided_eps",
                       "make the null labels on the labels' device: torch.full_like(labels, null_index)")


# ---------------------------------------------------------------------------------------------------------------
# Part 4: guided sampling

SAMPLE_HINT = ("ddim_sample(lambda x, t: guided_eps(model, x, t, labels, w, null_index), schedule, "
               "(len(labels), *image_shape), num_steps=num_steps, eta=eta, generator=generator, device=device, "
               "clip_x0=True)")


def run_guided(guided_sample: Callable, model, schedule, labels: Tensor, w: float, image_shape, num_steps: int,
               eta: float, K: int, seed: int):
    lent = lend(model)
    lent.calls = []
    out, drew = isolated(guided_sample, lent, schedule, labels, w, image_shape=image_shape, num_steps=num_steps,
                         eta=eta, null_index=K, generator=seeded(seed), progress=False)
    return out, drew, list(lent.calls)


def expect_guided_sample(guided_sample: Callable, labels: list[int], w: float, image_shape, T: int, num_steps: int,
                         eta: float, K: int, seed: int) -> None:
    schedule = toy_schedule(T)
    original = FakeClassModel(schedule.alpha_bars, class_means(K, image_shape, level=0.9), spread=1.0)
    y = torch.tensor(labels)
    B = len(labels)
    got, drew, calls = run_guided(guided_sample, original, schedule, y, w, image_shape, num_steps, eta, K, seed)
    if drew:
        fail("guided_sample drew from torch's global random generator although a generator was passed",
             "pass generator=generator on to ddim_sample")
    for _, seen, _ in calls:
        if sorted(seen) != sorted(labels + [K] * B):
            fail(f"for labels {labels} the model saw the labels {seen}: no condition dropout at sampling time, "
                 f"every image keeps its label", "dropout is for training only; sample with the labels as given")
    if len(calls) != num_steps:
        fail(f"with num_steps={num_steps} the model was called {len(calls)} times",
             "pass num_steps on to ddim_sample: one guided prediction per step")
    expect_tensor(got, (B, *image_shape), "the samples")
    shape = (B, *image_shape)
    null = K

    def expected(kind: str, w: float = w, eta: float = eta, **kwargs) -> Tensor:
        return closed_forms.ddim_guided(lambda x, t: closed_forms.guided(original, x, t, y, w, null, kind),
                                        schedule.alpha_bars, shape, num_steps, eta, seed, **kwargs)

    # the stand-in guidance that the check lends, or guidance written out in full: both pass
    candidates = [expected("fake"), expected("exercise")]
    best = min(candidates, key=lambda e: (got.detach().double() - e).abs().max().item())
    expect_close_lazily(got, best, "the samples", atol=1e-4, rtol=1e-4, hint=SAMPLE_HINT, variants=lambda: [
        variant for kind in ("fake", "exercise") for variant in (
            (expected(kind, clip=False), "sample with clip_x0=True, as lesson 4 does for images"),
            (expected(kind, w=1.0), f"the samples do not depend on w: pass w={w:g} on to the guided prediction"),
            (expected(kind, predraw=B), "no condition dropout at sampling time: it draws random numbers and may "
                                        "drop labels; sample with the labels as given"),
            *([(expected(kind, eta=0.0), f"pass eta={eta:g} on to ddim_sample")] if eta > 0 else []))])


# (labels, w, image_shape, T, num_steps, eta, num_classes)
SAMPLE_CASES = [([0, 2, 1], 3.0, (1, 4, 4), 20, 5, 0.0, 3), ([1, 0], 0.5, (2, 3, 3), 30, 6, 1.0, 2),
                ([2], 2.0, (1, 5, 5), 20, 4, 0.0, 3)]


@check("guided_sample")
def guided_sampling(guided_sample: Callable, cases=SAMPLE_CASES) -> None:
    for seed, (labels, w, image_shape, T, num_steps, eta, K) in enumerate(cases):
        with case(f"labels={labels}, w={w:g}, image_shape={image_shape}, T={T}, num_steps={num_steps}, eta={eta:g}, "
                  f"null_index={K}, a fake model"), standing_in(guided_sample, guided_eps=FakeGuidance()):
            expect_guided_sample(guided_sample, labels, w, image_shape, T, num_steps, eta, K, seed)
