"""Visible checks of AttentionBlock and ResidualBlock: their layers and parameter counts, then their
values, compared with the composition the diagrams show, computed from the student's own layers.
`cases` lets the hidden checks rerun the same logic on more cases.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ddpm_course import layer_checks as st
from ddpm_course.checking import case, check, expect_close, fail, seeded


def pointwise(layer: nn.Module, x: Tensor) -> Tensor:
    """Apply a 1x1 Conv2d, an nn.Linear over the channels, or an Identity to (B, C, H, W)."""
    if isinstance(layer, nn.Linear):
        return rearrange(layer(rearrange(x, "b c h w -> b h w c")), "b h w c -> b c h w")
    return layer(x)


def attention_block_parameters(c: int) -> int:
    """GroupNorm(1, c) and the four c -> c projections of SelfAttention."""
    return 2 * c + 4 * st.linear_parameters(c, c)


def resblock_parameters(cin: int, cout: int, step_dim: int) -> int:
    """Two 3x3 convs with their GroupNorms, the step projection, and a 1x1 conv when the channels change."""
    count = (st.conv_parameters(cin, cout, 3) + 2 * cout + st.linear_parameters(step_dim, cout)
             + st.conv_parameters(cout, cout, 3) + 2 * cout)
    return count + st.conv_parameters(cin, cout, 1) if cin != cout else count


SECOND_CALL_HINT = "forward must not depend on earlier calls: keep nothing from one call to the next on self"
DEVICE_HINT = ("create every tensor on the input's device (device=x.device), and keep the layers in attributes, so "
               "that .to(device) moves them: on a GPU, a tensor made on the CPU regardless fails the same way")


def expect_runs_on_meta(block: nn.Module, inputs: tuple[Tensor, ...], shape: tuple[int, ...], what: str) -> None:
    """Move the block to the meta device (shapes, no data: it stands in for a GPU) and run it on meta inputs; fail
    with a hint where something was made on the CPU regardless, or the output is not on the meta device."""
    block.to("meta")
    try:
        out = block(*inputs)
    except (RuntimeError, NotImplementedError, TypeError) as err:  # NotImplementedError: .cpu() of a meta tensor
        if "device" not in str(err) and "meta" not in str(err):
            raise
        fail(f"{what} moved to the meta device, with inputs there, raised {type(err).__name__}: {err}",
             DEVICE_HINT + "; and move nothing to the CPU (.cpu(), .numpy()) inside forward")
    if not isinstance(out, Tensor) or out.device.type != "meta":
        where = out.device if isinstance(out, Tensor) else type(out).__name__
        fail(f"{what} moved to the meta device returned its output on {where}", DEVICE_HINT)
    if tuple(out.shape) != tuple(shape):
        fail(f"on the meta device, {what} returned shape {tuple(out.shape)}, expected {tuple(shape)}")


GRADIENT_HINT = ("the values are right but not the gradients: an in-place op (mul_, add_, +=) on a tensor that "
                 "autograd saved breaks backward, and a .detach() or torch.no_grad() cuts the graph; write new tensors")


def backward(loss: Tensor, what: str) -> None:
    """loss.backward(), failing with a hint where backward through the student's block raises."""
    try:
        loss.backward()
    except RuntimeError as err:
        fail(f"the values are right, but backward through {what} raised RuntimeError: {err}", GRADIENT_HINT)


def targets(outputs: tuple[Tensor, ...], seed: int) -> list[Tensor]:
    """A fixed random weighting of each output: the loss sum((out * target)) reaches every element."""
    return [torch.randn(out.shape, generator=seeded(seed + 7 * k)) for k, out in enumerate(outputs)]


def backprop(fn, inputs: dict[str, Tensor], seed: int, what: str | None) -> dict[str, Tensor]:
    """Call fn on leaf copies of `inputs` and backpropagate a fixed random weighting of its output(s); return the
    leaves, their .grad set. what: the student's block, named in the hint if backward fails; None: the check's own."""
    leaves = {name: x.detach().clone().requires_grad_() for name, x in inputs.items()}
    out = fn(*leaves.values())
    outputs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    loss = sum((o * t).sum() for o, t in zip(outputs, targets(outputs, seed)))
    if what is None:
        loss.backward()
    else:
        backward(loss, what)
    return leaves


@torch.enable_grad()  # gradients switched off to explore must not fail the check
def expect_gradients_flow(block: nn.Module, inputs: dict[str, Tensor], seed: int, what: str) -> None:
    """Backpropagate through the block from a random weighting of its output(s); fail unless backward runs and
    every input and every parameter gets a finite, non-zero gradient. (The values were checked already.)"""
    leaves = backprop(block, inputs, seed, what)
    for name, leaf in leaves.items():
        if leaf.grad is None or not leaf.grad.abs().sum() > 0:
            fail(f"after backward, the input {name} has no gradient: {what} cut it off from its output",
                 "something detaches it: a .detach(), a torch.no_grad() block, or .data")
    params = dict(block.named_parameters())
    dead = [name for name, p in params.items() if p.grad is None or not torch.isfinite(p.grad).all()
            or not p.grad.abs().sum() > 0]
    if dead:
        fail(f"after backward, {len(dead)} of {len(params)} parameters of {what} have no gradient: "
             f"{', '.join(dead[:4])}" + (", ..." if len(dead) > 4 else ""),
             "something cuts them off: a .detach(), a torch.no_grad() block, or a layer built but never used")


@torch.enable_grad()  # gradients switched off to explore must not fail the check
def expect_same_gradients(mine: nn.Module, ref: nn.Module, inputs: dict[str, Tensor], seed: int, what: str) -> None:
    """Backpropagate the same loss through the student's block and the reference, with the same weights; compare
    the gradient of every input and of every parameter (by name)."""
    grads = []
    for k, module in enumerate((mine, ref)):
        leaves = backprop(module, inputs, seed, what if k == 0 else None)
        grads.append(({name: leaf.grad for name, leaf in leaves.items()},
                      {name: p.grad for name, p in module.named_parameters()}))
    (mine_in, mine_params), (ref_in, ref_params) = grads
    for name, expected in ref_in.items():
        got = mine_in[name]
        if got is None:
            fail(f"after backward, the input {name} has no gradient: {what} cut it off from its output",
                 "something detaches it: a .detach(), a torch.no_grad() block, or .data")
        expect_close(got, expected, f"gradient of the input {name}", atol=1e-4, rtol=1e-3, hint=GRADIENT_HINT)
    for name, expected in ref_params.items():
        got = mine_params.get(name)
        if got is None:
            fail(f"after backward, the parameter {name} has no gradient", GRADIENT_HINT)
        expect_close(got.reshape(expected.shape), expected, f"gradient of {name}", atol=1e-4, rtol=1e-3,
                     hint=GRADIENT_HINT)


# ---------------------------------------------------------------- AttentionBlock
ATTENTION_BLOCK_CASES = [(2, 8, 4, 5), (1, 12, 3, 3)]
ATTENTION_BLOCK_HINT = "the block computes x + attention(norm(x))"


def attention_block_structure(block: nn.Module, C: int, what: str) -> None:
    st.expect_groupnorm(block, "norm", what, 1, C,
                        hint="the AttentionBlock normalises with a single group: nn.GroupNorm(1, channels)")
    attention = getattr(block, "attention", None)
    if type(attention).__name__ != "SelfAttention" or getattr(attention, "channels", None) != C:
        fail(f"{what}.attention should be SelfAttention({C}, num_heads=4) from lesson 1, "
             f"found {st.describe(attention)}")
    if attention.num_heads != 4:
        fail(f"{what}.attention should have 4 heads, found {attention.num_heads}",
             "SelfAttention(channels, num_heads=4)")
    st.expect_parameter_count(block, attention_block_parameters(C), what)


def attention_block_variants(block: nn.Module, x: Tensor) -> tuple[Tensor, list]:
    """x + attention(norm(x)) with the block's own layers, and what known mistakes output."""
    with torch.no_grad():
        norm, attention = block.norm, block.attention
        normed = norm(x)
        return x + attention(normed), [
            (attention(normed), "the residual add is missing: return x + attention(norm(x))"),
            (x + attention(x), "the GroupNorm is not applied: attend to norm(x), then add x"),
            (normed + attention(normed), "you added the normalised input; add the original x: x + attention(norm(x))"),
            (norm(x + attention(x)), "that is post-norm (normalising the sum); this block normalises first: "
                                     "x + attention(norm(x))"),
        ]


@check("AttentionBlock")
def attention_block(AttentionBlock, cases=ATTENTION_BLOCK_CASES) -> None:
    for seed, (B, C, H, W) in enumerate(cases):
        what = f"AttentionBlock({C})"
        with case(f"B={B}, C={C}, H={H}, W={W}"):
            block = st.build(AttentionBlock, C, seed=seed, what=what)
            attention_block_structure(block, C, what)
            st.perturb(block, seed)
            x = torch.randn(B, C, H, W, generator=seeded(seed)) * 2 + 0.5
            st.expect_repeatable(block, x)
            got = block(x)
            expected, variants = attention_block_variants(block, x)
            expect_close(got, expected, hint=ATTENTION_BLOCK_HINT, variants=variants)
            second, _ = attention_block_variants(block, 3 - x)
            expect_close(block(3 - x), second, "output of a second call, on 3 - x", hint=SECOND_CALL_HINT)
    B, C, H, W = cases[0]
    with case(f"device: AttentionBlock({C}).to('meta') on an input on the meta device"):
        block = st.build(AttentionBlock, C, seed=0, what=f"AttentionBlock({C})")
        expect_runs_on_meta(block, (torch.empty(B, C, H, W, device="meta"),), (B, C, H, W), f"AttentionBlock({C})")
    with case(f"gradients: backward through AttentionBlock({C}), B={B}, H={H}, W={W}"):
        block = st.build(AttentionBlock, C, seed=0, what=f"AttentionBlock({C})")
        st.perturb(block, 0)
        expect_gradients_flow(block, {"x": torch.randn(B, C, H, W, generator=seeded(60))}, 0, f"AttentionBlock({C})")


# ---------------------------------------------------------------- ResidualBlock
# (batch, input_channels, output_channels, step_dim, groups, height, width)
RESBLOCK_CASES = [(2, 4, 8, 12, 2, 5, 6), (1, 8, 8, 16, 4, 3, 3), (1, 8, 4, 8, 2, 3, 4)]  # grow, keep, shrink
RESBLOCK_HINT = ("compare with the diagram stage by stage: conv1 -> norm1 -> SiLU, + time_proj(time_emb), "
                 "conv2 -> norm2 -> SiLU, + residual(x)")


def resblock_structure(block: nn.Module, cin: int, cout: int, step_dim: int, groups: int, what: str) -> None:
    st.expect_conv(block, "conv1", what, cin, cout, 3, padding=1)
    st.expect_groupnorm(block, "norm1", what, groups, cout)
    proj = getattr(block, "time_proj", None)
    if not isinstance(proj, nn.Sequential) or len(proj) != 2:
        fail(f"{what}.time_proj should be nn.Sequential(nn.SiLU(), nn.Linear({step_dim}, {cout})), "
             f"found {st.describe(proj)}", "the step embedding goes through SiLU, then a Linear to output_channels")
    if not st.acts_as_silu(proj[0]):
        fail(f"{what}.time_proj[0] should be nn.SiLU() or act as one; found {st.describe(proj[0])}, which does not "
             f"compute x * sigmoid(x)", "the step embedding goes through SiLU, then a Linear to output_channels")
    st.expect_linear_layer(proj[1], f"{what}.time_proj[1]", step_dim, cout)
    st.expect_conv(block, "conv2", what, cout, cout, 3, padding=1)
    st.expect_groupnorm(block, "norm2", what, groups, cout)
    residual = getattr(block, "residual", None)
    if cin == cout and not isinstance(residual, nn.Identity):
        fail(f"{what}.residual should be nn.Identity(): input and output have {cin} channels; found "
             f"{st.describe(residual)}", "only a block that changes the channel count needs the 1x1 conv")
    if cin != cout and isinstance(residual, nn.Linear):
        st.expect_linear_layer(residual, f"{what}.residual", cin, cout)
    elif cin != cout:
        residual_hint = (f"x has {cin} channels and the main branch {cout}: a 1x1 convolution brings x to "
                         f"output_channels so that the branches can be added")
        if not isinstance(residual, nn.Conv2d):
            fail(f"{what}.residual should be a 1x1 nn.Conv2d({cin}, {cout}, kernel_size=1), found "
                 f"{st.describe(residual)}", residual_hint)
        st.expect_conv(block, "residual", what, cin, cout, 1, hint=residual_hint)
    st.expect_parameter_count(block, resblock_parameters(cin, cout, step_dim), what)


def resblock_variants(block: nn.Module, x: Tensor, t: Tensor) -> tuple[Tensor, list]:
    """The block's output from its own layers, and what known mistakes output."""
    with torch.no_grad():
        act = F.silu
        linear = block.time_proj[1]
        step = rearrange(linear(act(t)), "b c -> b c 1 1")
        residual = pointwise(block.residual, x)
        pre = block.norm1(block.conv1(x))
        h1 = act(pre)

        def stage2(h: Tensor) -> Tensor:
            return act(block.norm2(block.conv2(h)))

        swapped_order = block.norm2(act(block.conv2(block.norm1(act(block.conv1(x))) + step)))
        return stage2(h1 + step) + residual, [
            (stage2(h1) + step + residual, "the step embedding is added after the second conv stage; add it between "
                                           "the stages: after the first SiLU, before conv2"),
            (stage2(act(pre + step)) + residual, "the step embedding is added before the first SiLU; add it after: "
                                                 "h = SiLU(GroupNorm(conv1(x))) + step"),
            (stage2(act(block.norm1(block.conv1(x) + step))) + residual,
             "the step embedding is added before the first GroupNorm; add it after the first SiLU"),
            (stage2(h1 + rearrange(linear(t), "b c -> b c 1 1")) + residual,
             "the step embedding skipped the SiLU: apply the whole time_proj (SiLU, then Linear)"),
            (stage2(h1) + residual, "the step embedding is never added: add time_proj(time_emb), viewed as "
                                    "(B, C_out, 1, 1), after the first stage"),
            (stage2(h1 + step), "the residual branch is missing: return h + residual(x)"),
            (act(block.norm2(block.conv2(h1 + step)) + residual),
             "the residual is added before the last SiLU; add it after: SiLU(GroupNorm(conv2(h))) + residual(x)"),
            (swapped_order + residual, "each stage is conv -> GroupNorm -> SiLU; you applied SiLU before GroupNorm"),
        ]


@check("ResidualBlock")
def resblock(ResidualBlock, cases=RESBLOCK_CASES) -> None:
    for seed, (B, cin, cout, step_dim, groups, H, W) in enumerate(cases):
        what = f"ResidualBlock({cin}, {cout}, step_dim={step_dim}, groups={groups})"
        with case(f"B={B}, {cin} -> {cout} channels, step_dim={step_dim}, groups={groups}, H={H}, W={W}"):
            block = st.build(ResidualBlock, cin, cout, step_dim, groups, seed=seed, what=what)
            resblock_structure(block, cin, cout, step_dim, groups, what)
            st.perturb(block, seed)
            x = torch.randn(B, cin, H, W, generator=seeded(seed)) * 2
            t = torch.randn(B, step_dim, generator=seeded(seed + 50)) * 3
            st.expect_repeatable(block, x, t)
            got = block(x, t)
            expected, variants = resblock_variants(block, x, t)
            expect_close(got, expected, hint=RESBLOCK_HINT, variants=variants)
            x2, t2 = 1 - 2 * x, torch.randn(B, step_dim, generator=seeded(seed + 60)) * 3
            second, _ = resblock_variants(block, x2, t2)
            expect_close(block(x2, t2), second, "output of a second call, on 1 - 2 * x and another time_emb",
                         hint=SECOND_CALL_HINT)
    B, cin, cout, step_dim, groups, H, W = cases[0]
    what = f"ResidualBlock({cin}, {cout}, step_dim={step_dim}, groups={groups})"
    with case(f"device: {what}.to('meta') on inputs on the meta device"):
        block = st.build(ResidualBlock, cin, cout, step_dim, groups, seed=0, what=what)
        expect_runs_on_meta(block, (torch.empty(B, cin, H, W, device="meta"), torch.empty(B, step_dim, device="meta")),
                            (B, cout, H, W), what)
    with case(f"gradients: backward through {what}, B={B}, H={H}, W={W}"):
        block = st.build(ResidualBlock, cin, cout, step_dim, groups, seed=0, what=what)
        st.perturb(block, 0)
        expect_gradients_flow(block, {"x": torch.randn(B, cin, H, W, generator=seeded(61)),
                                      "time_emb": torch.randn(B, step_dim, generator=seeded(62))}, 0, what)
