"""Fake blocks: stand-ins for the blocks of earlier exercises, used by the wiring checks.

DownBlock, MidBlock, UpBlock and Unet are checked with their sub-blocks replaced by small,
fixed, non-linear maps with the same interface. The expected output then depends on the
wiring alone, so a bug in an earlier block never costs the points of a later one, and a
stand-in can say exactly what it received (a skip from the wrong level, a tensor
concatenated on the wrong axis) before anything crashes.

They compute no exercise's answer, so grading may build them where the student's code runs
(checking.Fake): the same arguments give the same map there and in the checks.
"""
from __future__ import annotations

import math
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ddpm_course.checking import Fake, fail, seeded


class StandIn(Fake, nn.Module):
    """Stands in for ResidualBlock(cin, cout, step_dim) as tanh(mix(x) + proj(step_emb)), or,
    with step_dim=0, for AttentionBlock(cin) as x + tanh(mix(x)). No parameters."""

    def __init__(self, cin: int, cout: int, step_dim: int, seed: int, name: str) -> None:
        super().__init__()
        generator = seeded(seed)
        self.cin, self.cout, self.step_dim, self.name = cin, cout, step_dim, name
        self.mix = torch.randn(cout, cin, generator=generator) / math.sqrt(cin)
        self.shift = torch.randn(cout, generator=generator) * 0.5
        self.proj = torch.randn(cout, step_dim, generator=generator) / math.sqrt(max(step_dim, 1))
        self.input_check: ConcatInputCheck | None = None

    def forward(self, x: Tensor, step_emb: Tensor | None = None) -> Tensor:
        if self.input_check is not None:
            self.input_check(x)
        if x.ndim != 4 or x.shape[1] != self.cin:
            fail(f"{self.name} received a tensor of shape {tuple(x.shape)}; it expects (B, {self.cin}, H, W)")
        h = torch.einsum("oi,bihw->bohw", self.mix, x) + rearrange(self.shift, "c -> c 1 1")
        if not self.step_dim:
            return x + torch.tanh(h)
        if not isinstance(step_emb, Tensor) or tuple(step_emb.shape) != (x.shape[0], self.step_dim):
            found = tuple(step_emb.shape) if isinstance(step_emb, Tensor) else type(step_emb).__name__
            fail(f"{self.name} received a step embedding of shape {found}; expected ({x.shape[0]}, {self.step_dim})",
                 "pass every ResidualBlock the output of the step embedding MLP, (B, time_emb_dim)")
        return torch.tanh(h + rearrange(step_emb @ self.proj.T, "b c -> b c 1 1"))


class StandInDown(Fake, nn.Module):
    """Stands in for DownBlock: skip = StandIn(x, step_emb); average-pooled by 2 when downsample."""

    def __init__(self, cin: int, cout: int, step_dim: int, downsample: bool, seed: int, name: str) -> None:
        super().__init__()
        self.block = StandIn(cin, cout, step_dim, seed, name)
        self.downsample, self.name = downsample, name
        self.last_skip = self.last_out = None

    def forward(self, x: Tensor, step_emb: Tensor) -> tuple[Tensor, Tensor]:
        skip = self.block(x, step_emb)
        out = F.avg_pool2d(skip, 2) if self.downsample else skip
        self.last_skip, self.last_out = skip, out
        return out, skip


class StandInUp(Fake, nn.Module):
    """Stands in for UpBlock: StandIn(cat(x, skip)), nearest-upsampled by 2 when upsample.

    It fails with a pointed message unless `skip` is the one its partner DownBlock returned. With strict=False it
    takes any skip, and uses only its mean (with its gradient): the wiring of the skips is another check's business.
    """

    def __init__(self, dim_in: int, dim_out: int, step_dim: int, upsample: bool, seed: int, name: str,
                 partner: StandInDown, downs: list[StandInDown], strict: bool = True) -> None:
        super().__init__()
        self.block = StandIn(2 * dim_out, dim_in, step_dim, seed, name)
        self.upsample, self.name, self.strict = upsample, name, strict
        self.partner, self.downs = [partner], list(downs)  # lists: not registered as submodules

    def forward(self, x: Tensor, step_emb: Tensor, skip: Tensor) -> Tensor:
        partner = self.partner[0]
        if not self.strict:
            h = self.block(torch.cat([x, x + skip.mean()], dim=1), step_emb)
            return F.interpolate(h, scale_factor=2, mode="nearest") if self.upsample else h
        if skip is not partner.last_skip:
            source = next((d.name for d in self.downs if d.last_skip is skip), None)
            output_of = next((d.name for d in self.downs if d.last_out is skip), None)
            if source:
                fail(f"{self.name} received the skip of {source}; it needs the skip of {partner.name}, "
                     f"the DownBlock at the same depth",
                     "the skips are used last in, first out: append each skip to a list, then skips.pop()")
            if output_of:
                fail(f"{self.name} received the downsampled output of {output_of}, not its skip",
                     "a DownBlock returns (downsampled, skip): push the second value")
            fail(f"{self.name} received a skip that no DownBlock returned "
                 f"({tuple(skip.shape) if isinstance(skip, Tensor) else type(skip).__name__})",
                 "push each DownBlock's skip on a list, and pop one for each UpBlock")
        h = self.block(torch.cat([x, skip], dim=1), step_emb)
        return F.interpolate(h, scale_factor=2, mode="nearest") if self.upsample else h


class ConcatInputCheck(Fake):
    """A check of what an UpBlock's block1 receives: x and skip (both x_shape) concatenated on channels."""

    def __init__(self, x_shape: tuple[int, ...], name: str) -> None:
        self.x_shape, self.name = tuple(x_shape), name

    def __call__(self, h: Tensor) -> None:
        B, C, H, W = self.x_shape
        axes = {(2 * B, C, H, W): "the batch axis (dim=0)", (B, C, 2 * H, W): "the height axis (dim=2)",
                (B, C, H, 2 * W): "the width axis (dim=3)"}
        shape = tuple(h.shape)
        if shape in axes:
            fail(f"{self.name} received shape {shape}: x and skip were concatenated on {axes[shape]}",
                 "concatenate on the channel axis: torch.cat([x, skip], dim=1) gives (B, 2 * dim_out, H, W)")
        if shape == (B, C, H, W):
            fail(f"{self.name} received shape {shape}, only dim_out channels: the skip was not concatenated",
                 "concatenate x and skip on the channel axis first: torch.cat([x, skip], dim=1)")


class ShapeRecorder(Fake):
    """A forward hook's target: `seen[name]` is the shape of the first output of the block called `name`."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, ...]] = {}


class ShapeHook(Fake):
    """A forward hook that records the shape of its block's (first) output in a ShapeRecorder."""

    def __init__(self, recorder: ShapeRecorder, name: str) -> None:
        self.recorder, self.name = recorder, name

    def __call__(self, module: nn.Module, args: tuple, out) -> None:
        self.recorder.seen[self.name] = tuple((out[0] if isinstance(out, tuple) else out).shape)


def _seed(*args) -> int:
    """A seed that depends on a block's arguments alone: a fake built with the same ones acts the same."""
    return sum((i + 1) * ord(c) for i, c in enumerate(repr(args))) % 100_003


# Fakes with the blocks' own signatures, for a Unet (or a block) built with them in place of the student's
class FakeAttentionBlock(StandIn):
    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, 0, _seed("attention", channels), f"AttentionBlock({channels})")


class FakeResidualBlock(StandIn):
    def __init__(self, input_channels: int, output_channels: int, step_dim: int, groups: int) -> None:
        super().__init__(input_channels, output_channels, step_dim,
                         _seed("residual", input_channels, output_channels, step_dim, groups),
                         f"ResidualBlock({input_channels}, {output_channels}, {step_dim}, {groups})")


class FakeDownBlock(StandInDown):
    def __init__(self, channels_in: int, channels_out: int, time_emb_dim: int, groups: int, downsample: bool = True,
                 attention: bool = True) -> None:
        args = (channels_in, channels_out, time_emb_dim, groups, downsample, attention)
        super().__init__(channels_in, channels_out, time_emb_dim, downsample, _seed("down", *args), f"DownBlock{args}")


class FakeMidBlock(StandIn):
    def __init__(self, mid_dim: int, time_emb_dim: int, groups: int) -> None:
        super().__init__(mid_dim, mid_dim, time_emb_dim, _seed("mid", mid_dim, time_emb_dim, groups),
                         f"MidBlock({mid_dim}, {time_emb_dim}, {groups})")


class FakeUpBlock(Fake, nn.Module):
    """Stands in for UpBlock as StandIn(cat(x, skip)), nearest-upsampled by 2 when upsample."""

    def __init__(self, dim_in: int, dim_out: int, time_emb_dim: int, groups: int, upsample: bool = True,
                 attention: bool = True) -> None:
        super().__init__()
        args = (dim_in, dim_out, time_emb_dim, groups, upsample, attention)
        self.block = StandIn(2 * dim_out, dim_in, time_emb_dim, _seed("up", *args), f"UpBlock{args}")
        self.upsample = upsample

    def forward(self, x: Tensor, step_emb: Tensor, skip: Tensor) -> Tensor:
        h = self.block(torch.cat([x, skip], dim=1), step_emb)
        return F.interpolate(h, scale_factor=2, mode="nearest") if self.upsample else h


FAKE_BLOCKS = {"AttentionBlock": FakeAttentionBlock, "ResidualBlock": FakeResidualBlock, "DownBlock": FakeDownBlock,
               "MidBlock": FakeMidBlock, "UpBlock": FakeUpBlock}
