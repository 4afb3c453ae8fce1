"""Hidden checks of lesson 2: more cases, and the reference solution with copied weights.

Never released to students. Each function is called in one line by a graded cell through
`ddpm_course.checking.run_hidden`. A DownBlock, MidBlock or UpBlock is compared with the
reference after the sub-blocks of both are replaced by the same fake blocks (fakes.py), so only
its wiring and its own layers are graded; the Unet likewise, built with fake blocks in place of
every block. No reference module ever reaches the student's code: the reference runs here.
"""
from __future__ import annotations

import torch
from torch import nn

from ddpm_course import layer_checks as st
from ddpm_course.checking import case, check, copy_weights, expect_close, expect_tensor, seeded, standing_in
from ddpm_course.l2_unet import checks_blocks, checks_unet, checks_wiring, reference
from ddpm_course.l2_unet.fakes import FAKE_BLOCKS, StandIn


def reference_pair(cls, ref_cls, args: tuple, seed: int, what: str, faked: tuple[str, ...] = ()):
    """(student module, reference module) with the reference's perturbed weights copied in,
    after comparing their parameter counts.

    The sub-blocks named in `faked` are the same fake blocks in both (where the reference has a block there:
    an nn.Identity stays as it is).
    """
    ref = st.build(ref_cls, *args, seed=100 + seed, what=what)
    mine = st.build(cls, *args, seed=seed, what=what)
    for k, name in enumerate(faked):
        block = getattr(ref, name)
        if isinstance(block, nn.Identity):
            continue
        if type(block).__name__ == "AttentionBlock":
            fake = StandIn(block.channels, block.channels, 0, 300 + seed + k, f"{what}.{name}")
        else:
            fake = StandIn(block.input_channels, block.output_channels, block.time_proj[1].in_features,
                           300 + seed + k, f"{what}.{name}")
        setattr(ref, name, fake)
        setattr(mine, name, fake)
    st.perturb(ref, seed)
    st.expect_parameter_count(mine, st.parameters(ref), what)
    copy_weights(mine, ref, what)
    return mine, ref


@check("AttentionBlock (hidden)")
def attention_block(AttentionBlock) -> None:
    cases = [(1, 4, 1, 7), (3, 16, 4, 4), (2, 12, 5, 2)]
    checks_blocks.attention_block(AttentionBlock, cases)
    for seed, (B, C, H, W) in enumerate(cases):
        with case(f"reference weights, B={B}, C={C}, H={H}, W={W}"):
            mine, ref = reference_pair(AttentionBlock, reference.AttentionBlock, (C,), seed, f"AttentionBlock({C})")
            x = torch.randn(B, C, H, W, generator=seeded(seed)) * 3
            got = mine(x)
            _, variants = checks_blocks.attention_block_variants(ref, x)
            with torch.no_grad():
                expect_close(got, ref(x), hint=checks_blocks.ATTENTION_BLOCK_HINT, variants=variants)
    with case("gradients: backward through AttentionBlock(8) with reference weights, B=2, H=3, W=3, input and "
              "every parameter"):
        mine, ref = reference_pair(AttentionBlock, reference.AttentionBlock, (8,), 5, "AttentionBlock(8)")
        checks_blocks.expect_same_gradients(mine, ref, {"x": torch.randn(2, 8, 3, 3, generator=seeded(70)) * 2}, 5,
                                            "AttentionBlock(8)")


@check("ResidualBlock (hidden)")
def resblock(ResidualBlock) -> None:
    cases = [(1, 6, 4, 8, 2, 4, 7), (3, 8, 16, 32, 4, 6, 6), (2, 4, 4, 8, 4, 2, 3), (2, 4, 8, 4, 1, 1, 1)]
    checks_blocks.resblock(ResidualBlock, cases)
    for seed, (B, cin, cout, step_dim, groups, H, W) in enumerate(cases):
        what = f"ResidualBlock({cin}, {cout}, step_dim={step_dim}, groups={groups})"
        with case(f"reference weights, B={B}, {cin} -> {cout} channels, groups={groups}, H={H}, W={W}"):
            mine, ref = reference_pair(ResidualBlock, reference.ResidualBlock, (cin, cout, step_dim, groups), seed,
                                       what)
            x = torch.randn(B, cin, H, W, generator=seeded(seed)) * 2
            t = torch.randn(B, step_dim, generator=seeded(seed + 50)) * 3
            got = mine(x, t)
            _, variants = checks_blocks.resblock_variants(ref, x, t)
            with torch.no_grad():
                expect_close(got, ref(x, t), hint=checks_blocks.RESBLOCK_HINT, variants=variants)
    for seed, (B, cin, cout, step_dim, groups, H, W) in enumerate(cases[:2]):
        what = f"ResidualBlock({cin}, {cout}, step_dim={step_dim}, groups={groups})"
        with case(f"gradients: backward through {what} with reference weights, B={B}, H={H}, W={W}, inputs and "
                  f"every parameter"):
            mine, ref = reference_pair(ResidualBlock, reference.ResidualBlock, (cin, cout, step_dim, groups), seed,
                                       what)
            checks_blocks.expect_same_gradients(
                mine, ref, {"x": torch.randn(B, cin, H, W, generator=seeded(seed + 70)) * 2,
                            "time_emb": torch.randn(B, step_dim, generator=seeded(seed + 71))}, seed, what)


@check("DownBlock (hidden)")
def downblock(DownBlock) -> None:
    cases = [(1, 8, 16, 8, 4, True, True, 4, 6), (3, 8, 4, 12, 2, True, False, 2, 2),
             (2, 4, 4, 8, 1, False, True, 5, 5), (2, 4, 8, 8, 2, False, False, 3, 3)]
    checks_wiring.downblock(DownBlock, cases)
    for seed, (B, cin, cout, tdim, groups, downsample, attention, H, W) in enumerate(cases):
        what = f"DownBlock({cin}, {cout}, {tdim}, {groups}, downsample={downsample}, attention={attention})"
        with case(f"reference weights, B={B}, {cin} -> {cout} channels, downsample={downsample}, "
                  f"attention={attention}, H={H}, W={W}"):
            mine, ref = reference_pair(DownBlock, reference.DownBlock,
                                       (cin, cout, tdim, groups, downsample, attention), seed,
                                       what, faked=("block1", "block2", "attention"))
            x = torch.randn(B, cin, H, W, generator=seeded(seed))
            t = torch.randn(B, tdim, generator=seeded(seed + 50))
            with torch.no_grad():
                expected_out, expected_skip = ref(x, t)
            got_out, got_skip = checks_wiring.unpack_pair(mine(x, t), expected_out, what)
            expect_close(got_out, expected_out, "downsampled output")
            expect_close(got_skip, expected_skip, "skip", hint="the skip is the AttentionBlock's output")
        with case(f"gradients: backward through {what} with reference weights and fake blocks, from both "
                  f"outputs, B={B}, H={H}, W={W}"):
            checks_blocks.expect_same_gradients(mine, ref, {"x": x, "step_emb": t}, seed, what)


@check("MidBlock (hidden)")
def midblock(MidBlock) -> None:
    cases = [(3, 16, 8, 4, 2, 2), (1, 4, 4, 1, 1, 6)]
    checks_wiring.midblock(MidBlock, cases)
    for seed, (B, C, tdim, groups, H, W) in enumerate(cases):
        what = f"MidBlock({C}, {tdim}, {groups})"
        with case(f"reference weights, B={B}, C={C}, groups={groups}, H={H}, W={W}"):
            mine, ref = reference_pair(MidBlock, reference.MidBlock, (C, tdim, groups), seed, what,
                                       faked=("block1", "attention", "block2"))
            x = torch.randn(B, C, H, W, generator=seeded(seed))
            t = torch.randn(B, tdim, generator=seeded(seed + 50))
            got = mine(x, t)
            with torch.no_grad():
                expect_close(got, ref(x, t))
        with case(f"gradients: backward through {what} with reference weights and fake blocks, B={B}, H={H}, "
                  f"W={W}"):
            checks_blocks.expect_same_gradients(mine, ref, {"x": x, "step_emb": t}, seed, what)


@check("UpBlock (hidden)")
def upblock(UpBlock) -> None:
    cases = [(1, 8, 16, 8, 4, True, True, 2, 3), (3, 8, 4, 12, 2, True, False, 1, 1),
             (2, 4, 4, 8, 1, False, True, 5, 3), (1, 4, 8, 8, 2, True, False, 2, 2)]
    checks_wiring.upblock(UpBlock, cases)
    for seed, (B, dim_in, dim_out, tdim, groups, upsample, attention, H, W) in enumerate(cases):
        what = f"UpBlock({dim_in}, {dim_out}, {tdim}, {groups}, upsample={upsample}, attention={attention})"
        with case(f"reference weights, B={B}, dim_in={dim_in}, dim_out={dim_out}, upsample={upsample}, "
                  f"attention={attention}, H={H}, W={W}"):
            mine, ref = reference_pair(UpBlock, reference.UpBlock,
                                       (dim_in, dim_out, tdim, groups, upsample, attention), seed,
                                       what, faked=("block1", "block2", "attention"))
            x = torch.randn(B, dim_out, H, W, generator=seeded(seed))
            skip = torch.randn(B, dim_out, H, W, generator=seeded(seed + 20))
            t = torch.randn(B, tdim, generator=seeded(seed + 50))
            got = mine(x, t, skip)
            _, variants = checks_wiring.upblock_variants(ref, x, t, skip)
            with torch.no_grad():
                expect_close(got, ref(x, t, skip), variants=variants)
        with case(f"gradients: backward through {what} with reference weights and fake blocks, to x, skip and "
                  f"step_emb, B={B}, H={H}, W={W}"):
            checks_blocks.expect_same_gradients(mine, ref, {"x": x, "step_emb": t, "skip": skip}, seed, what)


def parts(model: nn.Module):
    """(name, module) of each top-level layer or block of a Unet, one per ModuleList item."""
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleList):
            yield from ((f"{name}[{i}]", block) for i, block in enumerate(child))
        else:
            yield name, child


def expect_parameter_counts_by_part(mine: nn.Module, ref: nn.Module, what: str) -> None:
    """Compare the parameter counts with the reference's part by part, to name the part that differs."""
    theirs = dict(parts(ref))
    for name, part in parts(mine):
        if name in theirs:
            hint = None if name in ("step_embedding", "input_conv", "output_conv") else \
                f"{name} is built with other arguments than the reference's: compare with the docstring"
            st.expect_parameter_count(part, st.parameters(theirs[name]), f"{what}.{name}", hint)
    st.expect_parameter_count(mine, st.parameters(ref), what)


def fake_blocks(Unet):
    """The Unet builds fake blocks: the student's own are graded by their own checks."""
    return standing_in(Unet.__init__, **FAKE_BLOCKS)


@check("Unet (hidden)")
def unet(Unet) -> None:
    # sizes that halve as often as the levels need: the size validation is graded by unet_properties
    # each passes even a stricter validation (see checks_unet.UNET_CASES): validation is unet_properties' business
    checks_unet.unet(Unet, [(3, (1, 6, 10), 8, (1,), 2, None), (1, (1, 8, 8), 8, (1, 2), 2, (True, True)),
                            (1, (1, 8, 8), 8, (1, 1, 2), 2, (False, False, False))])
    cases = [(1, (2, 8, 8), 12, (1, 2, 2), 3, None), (2, (1, 4, 12), 8, (2, 1), 2, (True, False))]
    for seed, (B, image_shape, channels, dim_mults, groups, attention_levels) in enumerate(cases):
        what, kwargs = checks_unet.unet_call(image_shape, channels, dim_mults, groups, attention_levels)
        with case(f"reference weights and fake blocks, your Unet, B={B}, {what}"):
            with fake_blocks(reference.Unet):
                ref = st.build(reference.Unet, image_shape, channels, dim_mults, groups, seed=100 + seed, what=what,
                               **kwargs)
            st.perturb(ref, seed)
            with fake_blocks(Unet):
                mine = st.build(Unet, image_shape, channels, dim_mults, groups, seed=seed, what=what, **kwargs)
            expect_parameter_counts_by_part(mine, ref, what)
            copy_weights(mine, ref, what)
            x = torch.randn(B, *image_shape, generator=seeded(seed))
            steps = torch.randint(0, 1000, (B,), generator=seeded(seed + 1))
            with torch.no_grad():
                expected = ref(x, steps)
            expect_close(mine(x, steps), expected, atol=1e-4)


@check("Unet properties (hidden)")
def unet_properties(Unet) -> None:
    checks_unet.unet_validation(Unet, bad_shapes=[((3, 16, 20), (1, 2, 4, 8)), ((1, 6, 8), (1, 1, 1))],
                                bad_channels=[(12, (1, 2), 8, "group"), (10, (1,), 5, "head")])
    with case("Unet((1, 5, 7), channels=8, dim_mults=(1,)): one level, no halving, any size works"):
        with fake_blocks(Unet):
            model = st.build(Unet, (1, 5, 7), 8, (1,), 2, seed=0, what="Unet((1, 5, 7), channels=8, dim_mults=(1,))")
        with torch.no_grad():
            out = model(torch.randn(2, 1, 5, 7, generator=seeded(0)), torch.tensor([1, 2]))
        expect_tensor(out, (2, 1, 5, 7), hint="with a single level nothing is halved: the output has the input's shape")
    checks_unet.unet_properties(Unet, fashion=False, small=((3, 8, 4), 8, (1, 1), 4),
                                valid=[((2, 6, 2), 12, (1, 1), 6), ((1, 4, 12), 4, (1, 2, 1), 4)])
