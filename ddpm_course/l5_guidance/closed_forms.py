"""What lesson 5's checks compare with, in float64: lesson 2's U-Net with a label embedding added to its step
embedding, condition dropout and the loss replayed on the same random numbers, the guided prediction, and DDIM
(eq. 12, x̂0 clipped) driven by it; and what known mistakes compute instead, each with the hint that names it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ddpm_course.checking import seeded
from ddpm_course.l5_guidance.fakes import FakeClassModel, fake_mix

STAGES = ("down", "mid", "up", "final")


def conditional_unet(unet: nn.Module, label_weight: Tensor, x: Tensor, t: Tensor, labels: Tensor,
                     where: tuple[str, ...] = STAGES, replace: bool = False) -> Tensor:
    """Lesson 2's forward (in float32, as the reference U-Net's weights are) with the label embedding added to the
    step embedding that the blocks of `where` see (all of them: the exercise); replace=True gives them the label
    embedding instead of the sum."""
    with torch.no_grad():
        step = unet.step_embedding(t)
        label = label_weight.to(step.dtype)[labels]
        labelled = label if replace else step + label
        emb = {stage: labelled if stage in where else step for stage in STAGES}
        h = unet.input_conv(x)
        skips = []
        for down in unet.downs:
            h, skip = down(h, emb["down"])
            skips.append(skip)
        h = unet.mid(h, emb["mid"])
        for up in unet.ups:
            h = up(h, emb["up"], skips.pop())
        return unet.output_conv(unet.final_block(h, emb["final"]))


def unet_variants(unet: nn.Module, label_weight: Tensor, x: Tensor, t: Tensor,
                  labels: Tensor) -> list[tuple[Tensor, str]]:
    """What known mistakes of the conditional U-Net output, with their hints."""
    K = label_weight.shape[0] - 1
    return [
        (conditional_unet(unet, label_weight, x, t, labels, where=("final",)),
         "add the label embedding to the step embedding BEFORE the blocks: every block (down, mid, up, final) "
         "must see step_emb + label_emb"),
        (conditional_unet(unet, label_weight, x, t, labels, where=("mid", "up", "final")),
         "the down blocks must see the label too: add it to the step embedding before the first block"),
        (conditional_unet(unet, label_weight, x, t, labels, replace=True),
         "ADD the label embedding to the step embedding; the blocks still need to know the step"),
        (conditional_unet(unet, label_weight, x, t, torch.where(labels == K, torch.zeros_like(labels), labels)),
         f"'no label' must have its own row, index num_classes = {K}: row 0 is class 0's"),
        (conditional_unet(unet, label_weight, x, t, torch.where(labels == K, torch.full_like(labels, K - 1), labels)),
         f"'no label' must have its own row, index num_classes = {K}: row {K - 1} is the last real class's"),
    ]


def drop_labels(labels: Tensor, p_uncond: float, null_index: int, seed: int, draw: str = "rand",
                keep_if: str = "below") -> Tensor:
    """Condition dropout with a generator seeded with `seed`: one torch.rand(B), a label dropped where it is below
    p_uncond. draw="batch" (one draw for the whole batch) and keep_if="above" reproduce known mistakes."""
    generator = seeded(seed)
    B = labels.shape[0]
    if draw == "batch":
        drop = (torch.rand(1, generator=generator) < p_uncond).expand(B)
    else:
        u = torch.rand(B, generator=generator)
        drop = u < p_uncond if keep_if == "below" else u >= p_uncond
    return torch.where(drop, torch.full_like(labels, null_index), labels)


def loss_expected(model: FakeClassModel, x0: Tensor, labels: Tensor, alpha_bars: Tensor, p_uncond: float,
                  null_index: int, seed: int, order: str = "drop first", dropout: bool = True) -> Tensor:
    """The conditional loss in float64: dropout first (one torch.rand(B)), then t and the noise as lesson 3's
    noise_img draws them; order="drop last" draws the dropout after them, dropout=False skips it (known mistakes)."""
    generator = seeded(seed)
    B = x0.shape[0]
    u = torch.rand(B, generator=generator) if order == "drop first" else None
    t = torch.randint(0, len(alpha_bars), (B,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).double()
    if u is None:
        u = torch.rand(B, generator=generator)
    dropped = torch.where(u < p_uncond, torch.full_like(labels, null_index), labels) if dropout else labels
    a = alpha_bars.double()[t].reshape(-1, 1, 1, 1)
    x_t = torch.sqrt(a) * x0.double() + torch.sqrt(1 - a) * noise
    with torch.no_grad():
        return (model.predict(x_t, t, dropped) - noise).pow(2).mean()


def guided(model: FakeClassModel, x: Tensor, t: Tensor, labels: Tensor, w: float, null_index: int,
           kind: str = "exercise") -> Tensor:
    """The guided prediction in float64: ε∅ + w (εc - ε∅). Other kinds reproduce known mistakes, and "fake" the
    stand-in's made-up mix (fakes.fake_mix)."""
    x = x.double()
    with torch.no_grad():
        cond = model.predict(x, t, labels)
        uncond = model.predict(x, t, torch.full_like(labels, null_index))
    return {"exercise": lambda: uncond + w * (cond - uncond),
            "sign": lambda: uncond - w * (cond - uncond),
            "w on uncond": lambda: cond + w * (uncond - cond),
            "paper w": lambda: (1 + w) * cond - w * uncond,
            "null 0": lambda: guided(model, x, t, labels, w, 0),
            "fake": lambda: fake_mix(cond, uncond, w)}[kind]()


def guided_variants(model, x, t, labels, w, null_index) -> list[tuple[Tensor, str]]:
    variants = [
        (guided(model, x, t, labels, w, null_index, "sign"),
         "the guidance sign is flipped: move AWAY from the unconditional prediction, ε∅ + w (εc - ε∅)"),
        (guided(model, x, t, labels, w, null_index, "w on uncond"),
         "w scales the difference (εc - ε∅) and is added to ε∅: you started from εc and moved towards ε∅"),
        (guided(model, x, t, labels, w, null_index, "paper w"),
         "this lesson's w is the paper's 1 + w: ε∅ + w (εc - ε∅), so that w = 1 is the plain conditional model"),
    ]
    if null_index != 0 and w != 1:
        variants.append((guided(model, x, t, labels, w, null_index, "null 0"),
                         "the unconditional half used label 0, a real class: use null_index for 'no label'"))
    return variants


def ddim_guided(eps_fn, alpha_bars: Tensor, shape: tuple[int, ...], num_steps: int, eta: float, seed: int,
                clip: bool = True, predraw: int = 0) -> Tensor:
    """Lesson 4's DDIM in float64 on eps_fn(x, t) with the prescribed steps and random numbers; with `clip`, x̂0
    clipped and ε the noise it implies. predraw: numbers drawn from the generator before x_T (a mistake)."""
    generator = seeded(seed)
    if predraw:
        torch.rand(predraw, generator=generator)
    ab = alpha_bars.double()
    T = len(ab)
    steps = (torch.arange(num_steps) * T // num_steps).flip(0).tolist()
    x = torch.randn(shape, generator=generator).double()
    for i, t in enumerate(steps):
        a = ab[t]
        a_prev = ab[steps[i + 1]] if i + 1 < len(steps) else torch.ones_like(a)
        eps = eps_fn(x, torch.full((shape[0],), t, dtype=torch.long)).double()
        x0 = (x - torch.sqrt(1 - a) * eps) / torch.sqrt(a)
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = (x - torch.sqrt(a) * x0) / torch.sqrt(1 - a)
        sigma = eta * torch.sqrt((1 - a_prev) / (1 - a)) * torch.sqrt(1 - a / a_prev)
        x = torch.sqrt(a_prev) * x0 + torch.sqrt((1 - a_prev - sigma**2).clamp(min=0)) * eps
        if eta > 0:
            x = x + sigma * torch.randn(shape, generator=generator).double()
    return x
