"""Hidden checks of lesson 5: other shapes, class counts and guidance weights than the visible ones, the reference
solution with copied weights, the cosine schedule, and gradients.

Never released to students. Each function is called in one line by a graded cell through
`ddpm_course.checking.run_hidden`.
"""
from __future__ import annotations

import torch

from ddpm_course.checking import case, check, copy_weights, expect_close, fail, seeded
from ddpm_course.l5_guidance import checks, checks_model, reference

SMALL = checks_model.SMALL
THREE_LEVELS = dict(channels=8, dim_mults=(1, 2, 2), attention_levels=(False, False, True), max_steps=50)


@check("ConditionalUnet (hidden)")
def conditional_unet(ConditionalUnet) -> None:
    checks.conditional_unet(ConditionalUnet, [((3, 4, 4), 7, [7, 6, 0], THREE_LEVELS)])
    with case("the reference ConditionalUnet's weights (a random label embedding) copied in, image_shape=(1, 8, 12), "
              "num_classes=4, labels=None and labels 0..4"):
        reference_model = checks_model.build(reference.ConditionalUnet, (1, 8, 12), 4, 70, **SMALL).eval()
        weights = reference_model.state_dict()
        weights["label_embedding.weight"] = torch.randn(5, 32, generator=seeded(71))
        reference_model.load_state_dict(weights)
        model = checks_model.build(ConditionalUnet, (1, 8, 12), 4, 72, **SMALL).eval()
        checks_model.expect_rows(model, 4, 32)
        copy_weights(model, reference_model, "ConditionalUnet")
        x, t = checks_model.inputs((1, 8, 12), 5, 20, 73)
        with torch.no_grad():
            expect_close(model(x, t, torch.arange(5)), reference_model(x, t, torch.arange(5)), "the predicted noise",
                         atol=1e-5, hint=checks_model.UNET_HINT)
            expect_close(model(x, t), reference_model(x, t), "the predicted noise for labels=None", atol=1e-5,
                         hint="labels=None means null_index for every image")
    with case("gradients: a loss on labels [0, 0, 2] reaches rows 0 and 2 of the label embedding and no other"):
        model, _, _ = checks_model.loaded(ConditionalUnet, (1, 8, 8), 3, 80, 0.5, **SMALL)
        x, t = checks_model.inputs((1, 8, 8), 3, 20, 81)
        model(x, t, torch.tensor([0, 0, 2])).pow(2).sum().backward()
        grad = dict(model.named_parameters())["label_embedding.weight"].grad
        if grad is None:
            fail("after backward the label embedding has no gradient", "don't detach the label embedding")
        used = grad.abs().sum(-1) > 0
        if used.tolist() != [True, False, True, False]:
            rows = used.nonzero().flatten().tolist()
            fail(f"the gradient reached the label embedding's rows {rows}, expected [0, 2]",
                 "look the labels up with self.label_embedding(labels) and add the result to the step embedding")


@check("drop_labels and conditional_loss (hidden)")
def dropout(drop_labels, conditional_loss) -> None:
    checks.dropout(drop_labels, conditional_loss, drop_cases=[(25, 0.2, 10, 60), (3, 0.7, 2, 61), (64, 0.1, 5, 62)],
                   loss_cases=[((5, 1, 3, 3), [4, 0, 3, 1, 2], 0.4, 5, 37), ((2, 3, 2, 2), [0, 0], 1.0, 1, 12),
                               ((3, 1, 6, 6), [1, 2, 0], 0.1, 3, 100)])
    with case("drop_labels of 1 000 labels, p_uncond=0.25: about a quarter dropped"):
        labels = torch.zeros(1000, dtype=torch.long)
        got = drop_labels(labels, 0.25, 10, seeded(63))
        share = float((got == 10).double().mean())
        if not 0.2 < share < 0.3:
            fail(f"{share:.3f} of the labels were dropped, expected about 0.25", checks_model.DROP_HINT)


@check("guided_eps (hidden)")
def guidance(guided_eps) -> None:
    checks.guidance(guided_eps, [((4, 1, 3, 3), [3, 0, 1, 2], 7.5, 4, 40), ((1, 3, 2, 2), [0], 1.5, 1, 10),
                                 ((2, 1, 5, 5), [2, 2], -1.0, 3, 25), ((3, 2, 2, 3), [0, 1, 0], 0.25, 9, 50)])


@check("guided_sample (hidden)")
def guided_sampling(guided_sample) -> None:
    checks.guided_sampling(guided_sample, [([3, 0, 1, 2], 4.0, (1, 3, 3), 40, 8, 0.0, 4),
                                           ([0], 1.0, (2, 4, 4), 25, 5, 0.5, 1),
                                           ([1, 1, 0], 0.0, (1, 2, 6), 30, 7, 1.0, 2)])
