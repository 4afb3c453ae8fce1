"""Visible checks of the Unet: its layers, its wiring with stand-in blocks, and the properties
of the whole network, also with stand-in blocks: the student's blocks have their own checks."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ddpm_course import layer_checks as st
from ddpm_course.checking import CheckFailure, case, check, expect_close, expect_tensor, fail, lend, seeded
from ddpm_course.l2_unet.fakes import ShapeHook, ShapeRecorder, StandIn, StandInDown, StandInUp

# ---------------------------------------------------------------- Unet
# (batch, image_shape, channels, dim_mults, groups, attention_levels); None: the default, left out of the call.
# Each passes even a stricter validation than the notebook asks for (H and W divisible by 2 ** len(dim_mults),
# channel counts by groups * 4): a validation slip costs unet_properties alone, which grades validation.
UNET_CASES = [(2, (1, 8, 8), 8, (1, 2), 2, None), (1, (3, 8, 16), 8, (1, 1, 2), 2, (True, False, True))]


def default_levels(dim_mults: tuple[int, ...]) -> tuple[bool, ...]:
    """attention_levels=None: every level but the first attends."""
    return tuple(i > 0 for i in range(len(dim_mults)))


def unet_call(image_shape, channels, dim_mults, groups, attention_levels) -> tuple[str, dict]:
    """How a case builds its Unet: its description, and the keyword arguments beyond the first four."""
    if attention_levels is None:
        return f"Unet({image_shape}, channels={channels}, dim_mults={dim_mults}, groups={groups})", {}
    return (f"Unet({image_shape}, channels={channels}, dim_mults={dim_mults}, groups={groups}, "
            f"attention_levels={attention_levels})", {"attention_levels": attention_levels})


def channel_pairs(channels: int, dim_mults: tuple[int, ...]) -> list[tuple[int, int]]:
    dims = [channels] + [channels * m for m in dim_mults]
    return list(zip(dims[:-1], dims[1:]))


def expect_level(sub, label: str, class_name: str, args: tuple, flags: list[tuple[bool, str, str]], hint: str) -> None:
    """Fail unless `sub` is class_name(*args, *flag values); name the flag when only one flag is wrong.

    flags: (value, verb, why) per trailing boolean argument: the block should `verb`, or not, because `why`.
    """
    values = [value for value, _, _ in flags]
    if type(sub).__name__ == class_name and repr(sub) != st.twin_repr(sub, *args, *values):
        for k, (value, verb, why) in enumerate(flags):
            if repr(sub) == st.twin_repr(sub, *args, *values[:k], not value, *values[k + 1:]):
                fail(f"{label} should {'' if value else 'not '}{verb}: {why}")
    st.expect_built_as(sub, label, class_name, *args, *values, hint=hint)


def unet_structure(unet, image_shape, channels, dim_mults, groups, attention_levels, what) -> None:
    image_channels, tdim = image_shape[0], 4 * channels
    embedding = getattr(unet, "step_embedding", None)
    wanted = (f"nn.Sequential(SinusoidalPositionEmbeddings({channels}), nn.Linear({channels}, {tdim}), nn.GELU(), "
              f"nn.Linear({tdim}, {tdim}))")
    if not isinstance(embedding, nn.Sequential) or len(embedding) != 4 \
            or type(embedding[0]).__name__ != "SinusoidalPositionEmbeddings" \
            or getattr(embedding[0], "embedding_size", None) != channels or not isinstance(embedding[2], nn.GELU):
        fail(f"{what}.step_embedding should be {wanted}, found {st.describe(embedding)}")
    st.expect_linear_layer(embedding[1], f"{what}.step_embedding[1]", channels, tdim)
    st.expect_linear_layer(embedding[3], f"{what}.step_embedding[3]", tdim, tdim)
    st.expect_conv(unet, "input_conv", what, image_channels, channels, 7, padding=3)
    pairs = channel_pairs(channels, dim_mults)
    last = len(pairs) - 1
    given = attention_levels is not None
    levels = attention_levels if given else default_levels(dim_mults)
    source = "you passed" if given else "the default, every level but the first"

    def attends(i: int, label: str) -> tuple[bool, str, str]:
        mirror = "" if label.startswith("downs") else f" (it mirrors downs[{i}])"
        return (levels[i], "attend",
                f"attention_levels[{i}] is {levels[i]}{mirror}; attention_levels={levels} ({source})")

    for name in ("downs", "ups"):
        blocks = getattr(unet, name, None)
        if not isinstance(blocks, nn.ModuleList):
            fail(f"{what}.{name} should be an nn.ModuleList of {len(pairs)} blocks, one per channel pair {pairs}; "
                 f"found {st.describe(blocks)}", "a plain Python list would hide the blocks' parameters")
        if len(blocks) != len(pairs):
            kind = "DownBlock" if name == "downs" else "UpBlock"
            fail(f"{what}.{name} holds {len(blocks)} block{'s' * (len(blocks) != 1)}, expected {len(pairs)}: one "
                 f"{kind} per channel pair {pairs}; found {st.describe(blocks)}",
                 f"dims = [channels] + [channels * m for m in dim_mults] has len(dim_mults) + 1 entries, hence "
                 f"len(dim_mults) pairs (dims[i], dims[i + 1]) and as many {kind}s")
    for i, (dim_in, dim_out) in enumerate(pairs):
        expect_level(unet.downs[i], f"{what}.downs[{i}]", "DownBlock", (dim_in, dim_out, tdim, groups),
                     [(i < last, "downsample", "the deepest DownBlock keeps its resolution" if i == last else
                       "every DownBlock but the last halves the resolution"), attends(i, "downs")],
                     f"downs[{i}] is DownBlock(dims[{i}], dims[{i + 1}], 4 * channels, groups, ...)")
    st.expect_built_as(getattr(unet, "mid", None), f"{what}.mid", "MidBlock", pairs[-1][1], tdim, groups)
    for i, (dim_in, dim_out) in enumerate(reversed(pairs)):
        expect_level(unet.ups[i], f"{what}.ups[{i}]", "UpBlock", (dim_in, dim_out, tdim, groups),
                     [(i < last, "upsample", "the last UpBlock is already back at full resolution" if i == last else
                       "every UpBlock but the last doubles the resolution"), attends(last - i, "ups")],
                     f"the up path walks the channel pairs in reverse: ups[{i}] takes the arguments of "
                     f"downs[{last - i}]")
    st.expect_built_as(getattr(unet, "final_block", None), f"{what}.final_block", "ResidualBlock", channels, channels,
                       tdim, groups)
    st.expect_conv(unet, "output_conv", what, channels, image_channels, 1)
    own = st.linear_parameters(channels, tdim) + st.linear_parameters(tdim, tdim) \
        + st.conv_parameters(image_channels, channels, 7) \
        + st.conv_parameters(channels, image_channels, 1)
    blocks = [*unet.downs, unet.mid, *unet.ups, unet.final_block]
    st.expect_parameter_count(unet, own + sum(st.parameters(block) for block in blocks), what)


def use_standins(unet: nn.Module, channels: int, dim_mults: tuple[int, ...], seed: int, strict: bool = True) -> dict:
    """Replace the Unet's blocks by stand-ins, each stand-in UpBlock knowing which skip it must get;
    return them: the checks compute what the Unet should output with these, never with the student's copies.
    strict=False: the stand-in UpBlocks take any skip (unet_properties: the skips' order is unet_values' business)."""
    pairs, tdim = channel_pairs(channels, dim_mults), 4 * channels
    last = len(pairs) - 1
    downs = [StandInDown(dim_in, dim_out, tdim, i < last, seed + i, f"downs[{i}]")
             for i, (dim_in, dim_out) in enumerate(pairs)]
    ups = [StandInUp(dim_in, dim_out, tdim, i < last, seed + 20 + i, f"ups[{i}]", downs[last - i], downs, strict)
           for i, (dim_in, dim_out) in enumerate(reversed(pairs))]
    blocks = {"downs": downs, "mid": StandIn(pairs[-1][1], pairs[-1][1], tdim, seed + 10, "mid"), "ups": ups,
              "final_block": StandIn(channels, channels, tdim, seed + 30, "final_block")}
    for i, down in enumerate(downs):
        unet.downs[i] = down
    unet.mid = blocks["mid"]
    for i, up in enumerate(ups):
        unet.ups[i] = up
    unet.final_block = blocks["final_block"]
    return blocks


def unet_variants(unet: nn.Module, blocks: dict, x: Tensor, steps: Tensor) -> tuple[Tensor, list]:
    """The output of a Unet with these stand-in blocks, and what known mistakes output."""
    with torch.no_grad():
        step_emb = unet.step_embedding(steps)
        h = unet.input_conv(x)
        skips = []
        for down in blocks["downs"]:
            h, skip = down(h, step_emb)
            skips.append(skip)

        def up_path(h: Tensor) -> Tensor:
            stack = list(skips)
            for up in blocks["ups"]:
                h = up(h, step_emb, stack.pop())
            return h

        mid, final = blocks["mid"], blocks["final_block"]
        up = up_path(mid(h, step_emb))
        return unet.output_conv(final(up, step_emb)), [
            (unet.output_conv(up), "final_block is never applied: run it after the last UpBlock, before output_conv"),
            (unet.output_conv(final(up_path(h), step_emb)), "the MidBlock is never applied: it runs "
                                                            "between the down path and the up path"),
        ]


@check("Unet")
def unet(Unet, cases=UNET_CASES) -> None:
    for seed, (B, image_shape, channels, dim_mults, groups, attention_levels) in enumerate(cases):
        what, kwargs = unet_call(image_shape, channels, dim_mults, groups, attention_levels)
        with case(f"B={B}, {what}"):
            model = st.build(Unet, image_shape, channels, dim_mults, groups, seed=seed, what=what, **kwargs)
            unet_structure(model, image_shape, channels, dim_mults, groups, attention_levels, what)
            st.perturb(model, seed)
            blocks = use_standins(model, channels, dim_mults, seed)
            x = torch.randn(B, *image_shape, generator=seeded(seed))
            steps = torch.randint(0, 1000, (B,), generator=seeded(seed + 1))
            got = model(x, steps)
            expected, variants = unet_variants(model, blocks, x, steps)
            expect_close(got, expected, atol=1e-4, hint="compare forward with steps 1-6 of the description",
                         variants=variants)


# ---------------------------------------------------------------- Unet properties
BAD_SHAPES = [((1, 30, 30), (1, 2, 4)), ((1, 28, 30), (1, 2, 4))]
# (channels, dim_mults, groups, named in message): each breaks one rule only, so either order of validation passes
BAD_CHANNELS = [(8, (1, 2), 3, "group"), (6, (1, 2), 3, "head")]


def expect_value_error(build_it, what: str, must_name: list[tuple[str, ...]], hint: str) -> None:
    """Fail unless build_it() raises a ValueError whose message names each group of alternatives."""
    try:
        build_it()
    except ValueError as err:
        message = str(err)
    else:
        fail(f"{what} should raise a ValueError in __init__, but it was built", hint)
    for options in must_name:
        if not any(option.lower() in message.lower() for option in options):  # "GroupNorm" names groups too
            fail(f"the ValueError of {what} should name {' or '.join(repr(o) for o in options)}; "
                 f"its message is: {message!r}", hint)


def unet_validation(Unet, bad_shapes=BAD_SHAPES, bad_channels=BAD_CHANNELS) -> None:
    for image_shape, dim_mults in bad_shapes:
        what = f"Unet({image_shape}, channels=8, dim_mults={dim_mults}, groups=2)"
        bad = next(size for size in image_shape[1:] if size % 2 ** (len(dim_mults) - 1))
        with case(f"{what}: {bad} cannot be halved {len(dim_mults) - 1} times"):
            expect_value_error(lambda: st.build(Unet, image_shape, 8, dim_mults, 2, seed=0, what=what), what,
                               [(str(bad),), ("dim_mults", str(dim_mults))],
                               "check H and W % 2 ** (len(dim_mults) - 1) in __init__, and name the image shape "
                               "and dim_mults in the message")
    for channels, dim_mults, groups, named in bad_channels:
        what = f"Unet((1, 8, 8), channels={channels}, dim_mults={dim_mults}, groups={groups})"
        broken = f"{groups} groups" if named == "group" else "4 attention heads"
        with case(f"{what}: {channels} channels do not split into {broken}"):
            expect_value_error(lambda: st.build(Unet, (1, 8, 8), channels, dim_mults, groups, seed=0, what=what), what,
                               [(named,)], "every channel count channels * m must be divisible by groups and by 4")


# (image_shape, channels, dim_mults, groups): valid, though channels is not divisible by groups * 4 heads,
# nor H and W by 2 ** len(dim_mults)
VALID_CONFIGS = [((1, 4, 4), 4, (1, 2), 2)]


def expect_valid(Unet, valid_configs=VALID_CONFIGS) -> None:
    """Each configuration must build: a ValueError there is a validation stricter than the rules."""
    for image_shape, channels, dim_mults, groups in valid_configs:
        what = f"Unet({image_shape}, channels={channels}, dim_mults={dim_mults}, groups={groups})"
        dims = [channels] + [channels * m for m in dim_mults]
        halvings = len(dim_mults) - 1
        with case(f"{what}: a valid configuration, built without error"):
            try:
                st.build(Unet, image_shape, channels, dim_mults, groups, seed=0, what=what)
            except ValueError as err:
                fail(f"{what} raised ValueError({str(err)!r}), but it is valid: every channel count in dims = {dims} "
                     f"is divisible by groups={groups} and, separately, by the 4 attention heads, and "
                     f"{image_shape[1]}x{image_shape[2]} can be halved {halvings} time{'s' * (halvings != 1)}",
                     "each rule on its own: dim % groups and dim % 4 (not dim % (groups * 4)); H and W divisible by "
                     "2 ** (len(dim_mults) - 1), the number of DownBlocks that downsample")


def expect_level_shapes(model: nn.Module, x: Tensor, steps: Tensor, expected: dict[str, tuple]) -> Tensor:
    """Run the model, failing unless each named block's first output has the expected shape."""
    modules = dict(model.named_modules())
    recorder = ShapeRecorder()
    handles = [modules[name].register_forward_hook(ShapeHook(recorder, name)) for name in expected if name in modules]
    try:
        with torch.no_grad():
            out = model(x, steps)
    finally:
        for handle in handles:
            handle.remove()
    seen = lend(recorder).seen
    for name, shape in expected.items():
        if seen.get(name) != shape:
            fail(f"{name} should output {shape}, got {seen.get(name)}; expected sizes: "
                 + ", ".join(f"{n} {s[2]}x{s[3]}" for n, s in expected.items()))
    return out


def fashion_mnist_shapes(Unet) -> None:
    """Fashion-MNIST's 28x28 must go 28 -> 14 -> 7 -> 14 -> 28 through Unet(dim_mults=(1, 2, 4))."""
    what = "Unet((1, 28, 28), channels=8, dim_mults=(1, 2, 4), groups=2)"
    with case(f"Fashion-MNIST, {what}: 28 -> 14 -> 7 -> 14 -> 28"):
        try:
            model = st.build(Unet, (1, 28, 28), 8, (1, 2, 4), 2, seed=0, what=what)
        except ValueError as err:
            fail(f"{what} raised ValueError({str(err)!r}), but 28 can be halved twice: only 2 of the 3 DownBlocks "
                 f"downsample", "H and W must be divisible by 2 ** (len(dim_mults) - 1)")
        use_standins(model, 8, (1, 2, 4), seed=0, strict=False)
        expected = {"downs.0": (1, 8, 14, 14), "downs.1": (1, 16, 7, 7), "downs.2": (1, 32, 7, 7), "mid": (1, 32, 7, 7),
                    "ups.0": (1, 16, 14, 14), "ups.1": (1, 8, 28, 28), "ups.2": (1, 8, 28, 28)}
        out = expect_level_shapes(model, torch.randn(1, 1, 28, 28, generator=seeded(0)), torch.tensor([100]), expected)
        expect_tensor(out, (1, 1, 28, 28), hint="the predicted noise has the shape of the input")


TWICE_HINT = "forward must not depend on earlier calls: build the list of skips afresh in forward, not on self"


@check("Unet properties")
def unet_properties(Unet, fashion: bool = True, small=((1, 8, 8), 8, (1, 2), 2), valid=VALID_CONFIGS) -> None:
    unet_validation(Unet)
    expect_valid(Unet, valid)
    if fashion:
        fashion_mnist_shapes(Unet)
    image_shape, channels, dim_mults, groups = small
    what = f"Unet({image_shape}, channels={channels}, dim_mults={dim_mults}, groups={groups}), stand-in blocks"
    with case(f"{what}: the same image at steps 5 and 600"):
        model = st.build(Unet, image_shape, channels, dim_mults, groups, seed=1, what=what)
        use_standins(model, channels, dim_mults, seed=1, strict=False)
        x = torch.randn(1, *image_shape, generator=seeded(1)).expand(2, *image_shape)
        out = model(x, torch.tensor([5, 600]))
        if (out[0] - out[1]).abs().max() < 1e-6:
            fail("the same image at steps 5 and 600 gives the same output: the step has no effect",
                 "the Unet passes step_embedding(num_steps) to every block")
    with case(f"{what}: gradients after one backward pass"):
        target = torch.randn(2, *image_shape, generator=seeded(3))
        (out * target).sum().backward()
        params = dict(model.named_parameters())
        dead = [name for name, p in params.items() if p.grad is None or not torch.isfinite(p.grad).all()
                or not p.grad.abs().sum() > 0]
        if dead:
            fail(f"{len(dead)} of {len(params)} parameters got no gradient: {', '.join(dead[:5])}"
                 + (", ..." if len(dead) > 5 else ""),
                 "something cuts them off: a .detach(), a torch.no_grad() block, or a module built but never used")
    with case(f"{what}: called twice, on the same input and then on another, the same outputs as fresh calls"):
        model, fresh = (st.build(Unet, image_shape, channels, dim_mults, groups, seed=2, what=what) for _ in range(2))
        for unet in (model, fresh):
            use_standins(unet, channels, dim_mults, seed=2, strict=False)
        other = torch.randn(2, *image_shape, generator=seeded(4))
        with torch.no_grad():
            first = model(x, torch.tensor([5, 600]))
            try:
                second = model(x, torch.tensor([5, 600]))
                third = model(other, torch.tensor([5, 600]))
            except CheckFailure as err:
                fail(f"the first call ran, but a later one failed: {err}", TWICE_HINT)
            expected = fresh(other, torch.tensor([5, 600]))
        expect_close(second, first, "the second call's output", atol=1e-6, hint=TWICE_HINT)
        expect_close(third, expected, "the third call's output, on another image", atol=1e-6, hint=TWICE_HINT)
