"""Visible checks of lesson 5, Parts 1 and 2: the conditional U-Net, condition dropout and the conditional loss.

The conditional U-Net is compared with lesson 2's U-Net whose step embedding gets the label embedding added
(closed_forms.py), with the weights copied in by name. Dropout and the loss run on a fake conditional noise
predictor (fakes.py) and are compared with their formulas replayed on the same random numbers.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ddpm_course.checking import (case, check, expect_close, expect_close_lazily, expect_tensor, fail, isolated, lend,
                                  seeded)
from ddpm_course.l2_unet.reference import Unet
from ddpm_course.l4_training.fakes import toy_schedule
from ddpm_course.l5_guidance import closed_forms
from ddpm_course.l5_guidance.fakes import FakeClassModel, class_means


# ---------------------------------------------------------------------------------------------------------------
# Part 1: the conditional U-Net

UNET_HINT = ("emb = self.step_embedding(num_steps) + self.label_embedding(labels), then lesson 2's forward with "
             "emb wherever it used the step embedding")
ROWS_HINT = "nn.Embedding(num_classes + 1, 4 * channels): a row per class, and one more for 'no label'"


def build(ConditionalUnet, image_shape, num_classes: int, seed: int, **kwargs) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ConditionalUnet(image_shape, num_classes=num_classes, **kwargs)


def plain_unet(image_shape, seed: int, **kwargs) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Unet(image_shape, **kwargs).eval()


def expect_rows(model: nn.Module, num_classes: int, dim: int) -> None:
    """The student's label embedding: present, with num_classes + 1 rows of 4 * channels."""
    state = model.state_dict()
    if "label_embedding.weight" not in state:
        fail(f"the model has no parameter 'label_embedding.weight' (it has {sorted(state)[:4]}...)",
             "name the embedding self.label_embedding, as the stub says: the check copies weights in by name")
    shape = tuple(state["label_embedding.weight"].shape)
    if shape != (num_classes + 1, dim):
        fail(f"with num_classes={num_classes} and channels={dim // 4}, label_embedding.weight has shape {shape}, "
             f"expected {(num_classes + 1, dim)}", ROWS_HINT if shape[0] != num_classes + 1 else
             "the label embedding is added to the step embedding, whose size is 4 * channels")
    null_index = getattr(model, "null_index", None)
    if null_index != num_classes:
        fail(f"with num_classes={num_classes}, model.null_index is {null_index!r}, expected {num_classes}",
             "'no label' gets its own index, num_classes, one past the real classes 0..num_classes-1: "
             "any other index is a real class")


def loaded(ConditionalUnet, image_shape, num_classes: int, seed: int, label_std: float, **kwargs):
    """The student's model with a plain U-Net's weights and a random label embedding copied in, and those."""
    model = build(ConditionalUnet, image_shape, num_classes, seed, **kwargs)
    unet = plain_unet(image_shape, seed + 1, **kwargs)
    dim = 4 * unet.channels
    expect_rows(model, num_classes, dim)
    weight = torch.randn(num_classes + 1, dim, generator=seeded(seed + 2)) * label_std
    state = {**unet.state_dict(), "label_embedding.weight": weight}
    keys = set(model.state_dict())
    if keys != set(state):
        fail(f"your model's parameters are not lesson 2's Unet's plus label_embedding.weight: missing "
             f"{sorted(set(state) - keys)[:5]}, unexpected {sorted(keys - set(state))[:5]}",
             "subclass lesson 2's Unet and add only self.label_embedding")
    model.load_state_dict(state)
    return model.eval(), unet, weight


def inputs(image_shape, B: int, T: int, seed: int) -> tuple[Tensor, Tensor]:
    x = torch.randn(B, *image_shape, generator=seeded(seed))
    t = torch.randint(0, T, (B,), generator=seeded(seed + 1))
    return x, t


def expect_conditional(ConditionalUnet, image_shape, num_classes: int, labels: list[int], seed: int,
                       none: bool = False, **kwargs) -> None:
    model, unet, weight = loaded(ConditionalUnet, image_shape, num_classes, seed, 0.5, **kwargs)
    B = len(labels)
    x, t = inputs(image_shape, B, unet.max_steps, seed + 3)
    y = torch.tensor(labels)
    with torch.no_grad():
        got = model(x, t) if none else model(x, t, y)
    expect_close_lazily(got, closed_forms.conditional_unet(unet, weight, x, t, y), "the predicted noise",
                        atol=1e-4, rtol=1e-4, hint=UNET_HINT,
                        variants=lambda: closed_forms.unet_variants(unet, weight, x, t, y))


def expect_zero_start(ConditionalUnet, image_shape, num_classes: int, seed: int, **kwargs) -> None:
    """A fresh model predicts what lesson 2's Unet with the same weights predicts, whatever the label."""
    model = build(ConditionalUnet, image_shape, num_classes, seed, **kwargs).eval()
    expect_rows(model, num_classes, 4 * kwargs.get("channels", 128))
    unet = plain_unet(image_shape, seed, **kwargs)
    state = {k: v for k, v in model.state_dict().items() if k != "label_embedding.weight"}
    unet.load_state_dict(state)
    B = num_classes + 1
    x, t = inputs(image_shape, B, unet.max_steps, seed + 3)
    labels = torch.arange(B)
    with torch.no_grad():
        expected = unet(x, t)
        got = model(x, t, labels)
    zeros = torch.zeros(B, 4 * unet.channels)
    replaced = closed_forms.conditional_unet(unet, zeros, x, t, labels, replace=True)
    expect_close(got, expected, "the fresh model's prediction for labels 0..num_classes (the last: no label)",
                 variants=[(replaced, "ADD the label embedding to the step embedding: the blocks still need to know "
                                      "the step")],
                 atol=1e-5, hint="zero-initialise the label embedding (nn.init.zeros_(self.label_embedding.weight)): "
                                 "then a new conditional model starts out as the unconditional one, and lesson 4's "
                                 "weights can be loaded into it")


# (image_shape, num_classes, labels, Unet keyword arguments)
SMALL = dict(channels=8, dim_mults=(1, 2), attention_levels=(False, True), max_steps=20)
UNET_CASES = [((1, 8, 8), 3, [0, 2, 3, 1], SMALL),
              ((2, 6, 10), 5, [5], dict(SMALL, attention_levels=(True, True)))]


@check("ConditionalUnet")
def conditional_unet(ConditionalUnet, cases=UNET_CASES) -> None:
    for seed, (image_shape, K, labels, kwargs) in enumerate(cases):
        with case(f"at initialisation, image_shape={image_shape}, num_classes={K}: the same prediction as lesson 2's "
                  f"Unet for every label, 'no label' included"):
            expect_zero_start(ConditionalUnet, image_shape, K, seed, **kwargs)
        with case(f"image_shape={image_shape}, num_classes={K}, labels={labels} (the last index is 'no label'), "
                  f"weights copied in, a random label embedding"):
            expect_conditional(ConditionalUnet, image_shape, K, labels, seed + 10, **kwargs)
    image_shape, K, labels, kwargs = cases[0]
    with case(f"labels=None (no label for any image), image_shape={image_shape}, num_classes={K}, batch 3"):
        expect_conditional(ConditionalUnet, image_shape, K, [K] * 3, 40, none=True, **kwargs)
    with case(f"batch 1, label 0, image_shape={image_shape}, num_classes={K}"):
        expect_conditional(ConditionalUnet, image_shape, K, [0], 50, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Part 2: condition dropout and the conditional loss

DEVICE_HINT = ("make every tensor on the labels' device: torch.rand(B, generator=generator, device=labels.device), "
               "torch.full_like(labels, null_index); on a GPU a tensor made on the CPU fails the same way")


def expect_on_meta(fn: Callable, what: str, hint: str, **made) -> None:
    """fn(labels) with (4,) labels on the meta device (and x, t there, in `made`): it must run there and answer
    there."""
    labels = torch.zeros(4, dtype=torch.long, device="meta")
    try:
        got = fn(labels, **made)
    except (RuntimeError, NotImplementedError) as err:
        if "device" not in str(err) and "meta" not in str(err):
            raise
        fail(f"with its inputs on the meta device, {what} raised {type(err).__name__}: {str(err)[:200]}", hint)
    if not isinstance(got, Tensor) or got.device.type != "meta":
        where = got.device if isinstance(got, Tensor) else type(got).__name__
        fail(f"with its inputs on the meta device, {what} returned its output on {where}", hint)


DROP_HINT = ("draw u = torch.rand(B, generator=generator, device=labels.device) once, and drop label i (make it "
             "null_index) where u[i] < p_uncond")


def expect_dropped(drop_labels: Callable, labels: Tensor, p: float, null_index: int, seed: int) -> None:
    before = labels.clone()
    got, drew = isolated(drop_labels, labels, p, null_index, seeded(seed))
    if not torch.equal(labels, before):
        fail("drop_labels modified the labels you passed in place",
             "return a new tensor (torch.where(...), or labels.clone() before assigning): the caller's labels are "
             "the data set's")
    if drew:
        fail("drop_labels drew from torch's global random generator although a generator was passed",
             "torch.rand(B, generator=generator, device=labels.device)")
    expect_tensor(got, labels.shape, "the labels", dtype=torch.long)
    variants = [(closed_forms.drop_labels(labels, p, null_index, seed, keep_if="above"),
                 f"you dropped where u >= p_uncond: with p_uncond={p} a label must be dropped with probability "
                 f"p_uncond, where u < p_uncond"),
                (closed_forms.drop_labels(labels, p, null_index, seed, draw="batch"),
                 "each label is dropped on its own: draw B numbers, torch.rand(B, generator=generator), not one "
                 "for the whole batch"),
                (labels, "no label was dropped: make label i null_index where u[i] < p_uncond")]
    expect_close(got, closed_forms.drop_labels(labels, p, null_index, seed), "the labels", atol=0, rtol=0,
                 hint=DROP_HINT, variants=[(v, h) for v, h in variants if not torch.equal(v, labels) or p > 0])


LOSS_HINT = ("first drop_labels, then (t, noise, x_t) as lesson 3's noise_img draws them, then "
             "F.mse_loss(model(x_t, t, dropped_labels), noise): lesson 3's diffusion_loss with "
             "lambda x_t, t: model(x_t, t, dropped_labels) does the rest")


def expect_loss(conditional_loss: Callable, shape, labels: list[int], p: float, K: int, T: int, seed: int) -> None:
    schedule = toy_schedule(T)
    x0 = torch.randn(shape, generator=seeded(seed)).clamp(-1, 1)
    y = torch.tensor(labels)
    original = FakeClassModel(schedule.alpha_bars, class_means(K, shape[1:]))
    model = lend(original)
    model.calls = []
    loss, drew = isolated(conditional_loss, model, x0, y, schedule, p_uncond=p, null_index=K,
                          generator=seeded(seed + 100))
    calls = list(model.calls)
    if drew:
        fail("conditional_loss drew from torch's global random generator although a generator was passed",
             "pass the generator on, to drop_labels and to the draws of t and the noise")
    if len(calls) != 1:
        fail(f"the model was called {len(calls)} times; the loss calls it once, on the whole noisy batch")
    seen = calls[0][1]
    if p == 1 and seen != [K] * len(labels):
        fail(f"with p_uncond=1 every label must become 'no label' ({K}), but the model saw labels {seen}",
             "drop the labels with drop_labels(labels, p_uncond, null_index, generator), with the p_uncond passed "
             "in, and give the model those")
    if p == 0 and seen != labels:
        fail(f"with p_uncond=0 no label may be dropped, but the model saw labels {seen} for labels {labels}",
             "drop a label only where torch.rand(B, generator=generator) < p_uncond")
    expect_tensor(loss, (), "the loss", hint="return the scalar tensor that F.mse_loss gives")
    if not loss.requires_grad:
        fail("the loss carries no gradient to the model's parameters",
             "don't detach it, call .item() on it, or compute it under torch.no_grad()")
    alpha_bars = schedule.alpha_bars
    expected = closed_forms.loss_expected(original, x0, y, alpha_bars, p, K, seed + 100)
    expect_close_lazily(loss, expected, "the loss", atol=1e-6, rtol=1e-5, hint=LOSS_HINT, variants=lambda: [
        (closed_forms.loss_expected(original, x0, y, alpha_bars, p, K, seed + 100, order="drop last"),
         "drop the labels FIRST, then draw t and the noise: the random numbers come in that order"),
        (closed_forms.loss_expected(original, x0, y, alpha_bars, p, K, seed + 100, dropout=False),
         "the model saw the labels undropped: give it drop_labels(labels, p_uncond, null_index, generator)"),
        (closed_forms.loss_expected(original, x0, y, alpha_bars, 0.1, K, seed + 100),
         f"you dropped with probability 0.1, not the p_uncond={p} passed in"),
    ])


# (B, p_uncond, null_index, seed): each drops some labels and keeps others
DROP_CASES = [(10, 0.5, 10, 0), (40, 0.1, 10, 1), (7, 0.3, 3, 2), (1, 0.5, 4, 0)]
# (shape, labels, p_uncond, num_classes, T)
LOSS_CASES = [((3, 2, 4, 4), [2, 0, 1], 1.0, 3, 30), ((4, 1, 5, 5), [0, 1, 2, 1], 0.5, 3, 20),
              ((2, 1, 3, 3), [1, 0], 0.0, 2, 10), ((1, 1, 4, 4), [2], 0.3, 3, 20)]


@check("drop_labels and conditional_loss")
def dropout(drop_labels: Callable, conditional_loss: Callable, drop_cases=DROP_CASES, loss_cases=LOSS_CASES) -> None:
    for B, p, null_index, seed in drop_cases:
        with case(f"drop_labels of {B} labels, p_uncond={p}, null_index={null_index}, a seeded generator"):
            labels = torch.randint(0, null_index, (B,), generator=seeded(seed + 50))
            expect_dropped(drop_labels, labels, p, null_index, seed)
    for p in (0.0, 1.0):
        with case(f"drop_labels with p_uncond={p:g}: {'none' if p == 0 else 'all'} of 6 labels dropped"):
            expect_dropped(drop_labels, torch.tensor([0, 1, 2, 3, 4, 5]), p, 6, 9)
    with case("drop_labels of 4 labels on the meta device (another device than the CPU, as a GPU is), no generator"):
        expect_on_meta(lambda labels: drop_labels(labels, 0.5, 3, None), "drop_labels", DEVICE_HINT)
    for seed, (shape, labels, p, K, T) in enumerate(loss_cases):
        with case(f"conditional_loss, x0 of shape {shape}, labels={labels}, p_uncond={p}, null_index={K}, T={T}, "
                  f"a fake model"):
            expect_loss(conditional_loss, shape, labels, p, K, T, seed)
