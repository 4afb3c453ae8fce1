"""Visible checks of DownBlock, MidBlock and UpBlock: their layers, then their wiring, with
their sub-blocks replaced by fake blocks (fakes.py), so their values depend on their own wiring only."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ddpm_course import layer_checks as st
from ddpm_course.checking import case, check, expect_close, fail, seeded
from ddpm_course.l2_unet.checks_blocks import GRADIENT_HINT, backprop
from ddpm_course.l2_unet.fakes import ConcatInputCheck, StandIn


@torch.enable_grad()  # gradients switched off to explore must not fail the check
def expect_wiring_gradients(block: nn.Module, inputs: dict[str, Tensor], expected_fn, layers: dict[str, nn.Module],
                            seed: int, what: str) -> None:
    """Backpropagate a random weighting of the block's output(s), with stand-ins for its sub-blocks, and compare the
    gradients of its inputs and of its own layers' parameters with those of `expected_fn`, the same wiring computed
    here from the stand-ins and copies of those layers' weights: expected_fn(*inputs, params) with params the
    copies, keyed 'layer.weight'."""
    own = {f"{name}.{key}": p.detach().clone().requires_grad_()
           for name, layer in layers.items() for key, p in layer.named_parameters()}
    grads = []
    for k in range(2):
        leaves = backprop(block, inputs, seed, what) if k == 0 else \
            backprop(lambda *xs: expected_fn(*xs, own), inputs, seed, None)
        grads.append({name: leaf.grad for name, leaf in leaves.items()})
    for name, expected in grads[1].items():
        got = grads[0][name]
        if got is None or not got.abs().sum() > 0:
            fail(f"after backward, the input {name} has no gradient: {what} cut it off from its output(s)",
                 "something detaches it: a .detach(), a torch.no_grad() block, or .data")
        expect_close(got, expected, f"gradient of the input {name}", atol=1e-4, rtol=1e-3, hint=GRADIENT_HINT)
    params = dict(block.named_parameters())
    for key, copy in own.items():
        got = params[key].grad if key in params else None
        if got is None:
            fail(f"after backward, the parameter {key} has no gradient", GRADIENT_HINT)
        expect_close(got, copy.grad, f"gradient of {key}", atol=1e-4, rtol=1e-3, hint=GRADIENT_HINT)


# ---------------------------------------------------------------- DownBlock and MidBlock
# (batch, channels_in, channels_out, time_emb_dim, groups, downsample, attention, height, width)
DOWNBLOCK_CASES = [(2, 4, 8, 12, 2, True, True, 6, 4), (1, 8, 8, 16, 4, False, True, 3, 5),
                   (1, 4, 8, 8, 2, True, False, 4, 2)]


def expect_attention(block, channels: int, attention: bool, what: str) -> None:
    """Fail unless block.attention is AttentionBlock(channels) when `attention`, else nn.Identity()."""
    found = getattr(block, "attention", None)
    if attention:
        st.expect_built_as(found, f"{what}.attention", "AttentionBlock", channels,
                           hint="with attention=True the block attends: AttentionBlock(channels)")
    elif not isinstance(found, nn.Identity):
        fail(f"{what}.attention should be nn.Identity() when attention=False, found {st.describe(found)}",
             "build the AttentionBlock only if attention is True, as for downsample/upsample: "
             "an nn.Identity() otherwise")


def downblock_structure(block, cin, cout, tdim, groups, downsample, attention, what) -> None:
    st.expect_built_as(getattr(block, "block1", None), f"{what}.block1", "ResidualBlock", cin, cout, tdim, groups,
                       hint="block1 changes the channel count: ResidualBlock(channels_in, channels_out, ...)")
    st.expect_built_as(getattr(block, "block2", None), f"{what}.block2", "ResidualBlock", cout, cout, tdim, groups)
    expect_attention(block, cout, attention, what)
    if downsample:
        st.expect_conv(block, "downsample", what, cout, cout, 4, stride=2, padding=1,
                       hint="a 4x4 convolution with stride 2 and padding 1 halves H and W and keeps the channels")
    elif not isinstance(getattr(block, "downsample", None), nn.Identity):
        fail(f"{what}.downsample should be nn.Identity() when downsample=False, found "
             f"{st.describe(getattr(block, 'downsample', None))}")
    own = st.conv_parameters(cout, cout, 4) if downsample else 0
    blocks = sum(st.parameters(getattr(block, n)) for n in ("block1", "block2", "attention"))
    st.expect_parameter_count(block, own + blocks, what)


def unpack_pair(got, expected_out: Tensor, what: str) -> tuple[Tensor, Tensor]:
    """The (downsampled, skip) a DownBlock returned, with a pointed message when they come swapped."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"{what} should return a tuple (downsampled, skip), got {type(got).__name__}")
    out, skip = got
    if isinstance(out, Tensor) and isinstance(skip, Tensor) and out.shape != skip.shape \
            and tuple(skip.shape) == tuple(expected_out.shape):
        fail(f"{what} returned (skip, downsampled); return them as (downsampled, skip)")
    return out, skip


@check("DownBlock")
def downblock(DownBlock, cases=DOWNBLOCK_CASES) -> None:
    for seed, (B, cin, cout, tdim, groups, downsample, attention, H, W) in enumerate(cases):
        what = f"DownBlock({cin}, {cout}, {tdim}, {groups}, downsample={downsample}, attention={attention})"
        with case(f"B={B}, {cin} -> {cout} channels, time_emb_dim={tdim}, groups={groups}, "
                  f"downsample={downsample}, attention={attention}, H={H}, W={W}"):
            block = st.build(DownBlock, cin, cout, tdim, groups, downsample, attention, seed=seed, what=what)
            downblock_structure(block, cin, cout, tdim, groups, downsample, attention, what)
            st.perturb(block, seed)
            b1, b2 = StandIn(cin, cout, tdim, seed, f"{what}.block1"), StandIn(cout, cout, tdim, seed + 1,
                                                                               f"{what}.block2")
            att = StandIn(cout, cout, 0, seed + 2, f"{what}.attention") if attention else nn.Identity()
            block.block1, block.block2 = b1, b2
            if attention:
                block.attention = att
            x = torch.randn(B, cin, H, W, generator=seeded(seed))
            t = torch.randn(B, tdim, generator=seeded(seed + 50))
            st.expect_repeatable(block, x, t)
            got = block(x, t)
            with torch.no_grad():
                h1 = block.block1(x, t)
                h2 = block.block2(h1, t)
                skip = block.attention(h2)
                out = block.downsample(skip)
                skip_first = block.attention(block.downsample(h2))
            got_out, got_skip = unpack_pair(got, out, what)
            expect_close(got_out, out, "downsampled output", hint="downsample(attention(block2(block1(x))))", variants=[
                (block.downsample(h2), "the AttentionBlock is not applied before the downsampling"),
                (skip_first, "the attention runs after the downsampling; it runs before, and its output is the skip")])
            expect_close(got_skip, skip, "skip", hint="the skip is the AttentionBlock's output, before downsampling",
                         variants=[(h2, "the skip is taken before the attention: it is the AttentionBlock's output"),
                                   (h1, "the skip is block1's output; it is the AttentionBlock's output")])
        with case(f"gradients: backward through {what} from both outputs, B={B}, H={H}, W={W}"):
            def expected_down(x: Tensor, t: Tensor, params: dict) -> tuple[Tensor, Tensor]:
                skip = att(b2(b1(x, t), t))
                if not downsample:
                    return skip, skip
                return F.conv2d(skip, params["downsample.weight"], params["downsample.bias"], stride=2,
                                padding=1), skip

            expect_wiring_gradients(block, {"x": x, "step_emb": t}, expected_down,
                                    {"downsample": block.downsample} if downsample else {}, seed, what)


# (batch, mid_dim, time_emb_dim, groups, height, width)
MIDBLOCK_CASES = [(2, 8, 12, 2, 4, 4), (1, 12, 16, 3, 3, 5)]


@check("MidBlock")
def midblock(MidBlock, cases=MIDBLOCK_CASES) -> None:
    for seed, (B, C, tdim, groups, H, W) in enumerate(cases):
        what = f"MidBlock({C}, {tdim}, {groups})"
        with case(f"B={B}, C={C}, time_emb_dim={tdim}, groups={groups}, H={H}, W={W}"):
            block = st.build(MidBlock, C, tdim, groups, seed=seed, what=what)
            for name in ("block1", "block2"):
                st.expect_built_as(getattr(block, name, None), f"{what}.{name}", "ResidualBlock", C, C, tdim, groups)
            st.expect_built_as(getattr(block, "attention", None), f"{what}.attention", "AttentionBlock", C)
            if block.block1 is block.block2:
                fail(f"{what}.block1 and .block2 are the same module",
                     "build two ResidualBlocks, each with its own weights")
            blocks = sum(st.parameters(getattr(block, n)) for n in ("block1", "attention", "block2"))
            st.expect_parameter_count(block, blocks, what)
            b1, att, b2 = (StandIn(C, C, tdim, seed, f"{what}.block1"), StandIn(C, C, 0, seed + 1, f"{what}.attention"),
                           StandIn(C, C, tdim, seed + 2, f"{what}.block2"))
            block.block1, block.attention, block.block2 = b1, att, b2
            x = torch.randn(B, C, H, W, generator=seeded(seed))
            t = torch.randn(B, tdim, generator=seeded(seed + 50))
            st.expect_repeatable(block, x, t)
            got = block(x, t)
            with torch.no_grad():
                expected = b2(att(b1(x, t)), t)
                variants = [
                    (b2(b1(x, t), t), "the AttentionBlock is never applied; it goes between block1 and block2"),
                    (att(b2(b1(x, t), t)), "the attention runs after block2; it goes between block1 and block2"),
                    (b2(b1(att(x), t), t), "the attention runs first; it goes between block1 and block2"),
                    (att(b1(x, t)), "block2 is never applied: block1 -> attention -> block2"),
                    (b1(att(b2(x, t)), t), "block1 and block2 are swapped: block1 runs first"),
                ]
            expect_close(got, expected, hint="block2(attention(block1(x)))", variants=variants)
        with case(f"gradients: backward through {what}, B={B}, H={H}, W={W}"):
            expect_wiring_gradients(block, {"x": x, "step_emb": t}, lambda x, t, _: b2(att(b1(x, t)), t), {}, seed,
                                    what)


# ---------------------------------------------------------------- UpBlock
# (batch, dim_in, dim_out, time_emb_dim, groups, upsample, attention, height, width);
# x and skip have dim_out channels
UPBLOCK_CASES = [(2, 4, 8, 12, 2, True, True, 3, 2), (1, 8, 8, 16, 4, False, True, 4, 4),
                 (1, 8, 4, 8, 2, False, False, 2, 3)]


def upblock_structure(block, dim_in, dim_out, tdim, groups, upsample, attention, what) -> None:
    st.expect_built_as(getattr(block, "block1", None), f"{what}.block1", "ResidualBlock", 2 * dim_out, dim_in, tdim,
                       groups,
                       hint="block1 takes x and skip concatenated, 2 * dim_out channels, and maps them to dim_in")
    st.expect_built_as(getattr(block, "block2", None), f"{what}.block2", "ResidualBlock", dim_in, dim_in, tdim, groups)
    expect_attention(block, dim_in, attention, what)
    if upsample:
        st.expect_conv(block, "upsample", what, dim_in, dim_in, 4, stride=2, padding=1, kind=nn.ConvTranspose2d,
                       hint="a 4x4 transposed convolution with stride 2 and padding 1 doubles H and W")
    elif not isinstance(getattr(block, "upsample", None), nn.Identity):
        fail(f"{what}.upsample should be nn.Identity() when upsample=False, found "
             f"{st.describe(getattr(block, 'upsample', None))}")
    own = st.conv_parameters(dim_in, dim_in, 4) if upsample else 0
    blocks = sum(st.parameters(getattr(block, n)) for n in ("block1", "block2", "attention"))
    st.expect_parameter_count(block, own + blocks, what)


@check("UpBlock")
def upblock(UpBlock, cases=UPBLOCK_CASES) -> None:
    for seed, (B, dim_in, dim_out, tdim, groups, upsample, attention, H, W) in enumerate(cases):
        what = f"UpBlock({dim_in}, {dim_out}, {tdim}, {groups}, upsample={upsample}, attention={attention})"
        with case(f"B={B}, dim_in={dim_in}, dim_out={dim_out}, time_emb_dim={tdim}, groups={groups}, "
                  f"upsample={upsample}, attention={attention}, H={H}, W={W}"):
            block = st.build(UpBlock, dim_in, dim_out, tdim, groups, upsample, attention, seed=seed, what=what)
            upblock_structure(block, dim_in, dim_out, tdim, groups, upsample, attention, what)
            st.perturb(block, seed)
            b1, b2 = StandIn(2 * dim_out, dim_in, tdim, seed, f"{what}.block1"), StandIn(dim_in, dim_in, tdim,
                                                                                         seed + 1, f"{what}.block2")
            att = StandIn(dim_in, dim_in, 0, seed + 2, f"{what}.attention") if attention else nn.Identity()
            block.block1 = b1
            block.block1.input_check = ConcatInputCheck((B, dim_out, H, W), f"{what}.block1")
            block.block2 = b2
            if attention:
                block.attention = att
            x = torch.randn(B, dim_out, H, W, generator=seeded(seed))
            skip = torch.randn(B, dim_out, H, W, generator=seeded(seed + 20))
            t = torch.randn(B, tdim, generator=seeded(seed + 50))
            st.expect_repeatable(block, x, t, skip)
            got = block(x, t, skip)
            expected, variants = upblock_variants(block, x, t, skip)
            expect_close(got, expected, hint="upsample(attention(block2(block1(cat([x, skip], dim=1)))))",
                         variants=variants)
        with case(f"gradients: backward through {what}, to x, skip and step_emb, B={B}, H={H}, W={W}"):
            def expected_up(x: Tensor, t: Tensor, skip: Tensor, params: dict) -> Tensor:
                h = att(b2(b1(torch.cat([x, skip], dim=1), t), t))
                if not upsample:
                    return h
                return F.conv_transpose2d(h, params["upsample.weight"], params["upsample.bias"], stride=2, padding=1)

            expect_wiring_gradients(block, {"x": x, "step_emb": t, "skip": skip}, expected_up,
                                    {"upsample": block.upsample} if upsample else {}, seed, what)


def upblock_variants(block: nn.Module, x: Tensor, t: Tensor, skip: Tensor) -> tuple[Tensor, list]:
    """The UpBlock's output from its own sub-blocks, and what known mistakes output."""
    with torch.no_grad():
        def tail(h: Tensor, attention: bool = True) -> Tensor:
            h = block.block2(block.block1(h, t), t)
            return block.upsample(block.attention(h) if attention else h)

        return tail(torch.cat([x, skip], dim=1)), [
            (tail(torch.cat([skip, x], dim=1)), "you concatenated (skip, x); the order is x first, then skip: "
                                                "torch.cat([x, skip], dim=1)"),
            (tail(torch.cat([x, skip], dim=1), attention=False), "the AttentionBlock is never applied: it runs after "
                                                                 "block2, before the upsampling"),
        ]
