"""Stand-ins for the blocks of earlier exercises, used by the wiring checks.

DownBlock, MidBlock, UpBlock and Unet are checked with their sub-blocks replaced by small,
fixed, non-linear maps with the same interface. The expected output then depends on the
wiring alone, so a bug in an earlier block never costs the points of a later one, and a
stand-in can say exactly what it received (a skip from the wrong level, a tensor
concatenated on the wrong axis) before anything crashes.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ddpm_course.checking import fail, seeded


class StandIn(nn.Module):
    """Stands in for ResidualBlock(cin, cout, step_dim) as tanh(mix(x) + proj(step_emb)), or,
    with step_dim=0, for AttentionBlock(cin) as x + tanh(mix(x)). No parameters."""

    def __init__(self, cin: int, cout: int, step_dim: int, seed: int, name: str) -> None:
        super().__init__()
        generator = seeded(seed)
        self.cin, self.cout, self.step_dim, self.name = cin, cout, step_dim, name
        self.mix = torch.randn(cout, cin, generator=generator) / math.sqrt(cin)
        self.shift = torch.randn(cout, generator=generator) * 0.5
        self.proj = torch.randn(cout, step_dim, generator=generator) / math.sqrt(max(step_dim, 1))
        self.input_check: Callable[[Tensor], None] | None = None

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


class StandInDown(nn.Module):
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


class StandInUp(nn.Module):
    """Stands in for UpBlock: StandIn(cat(x, skip)), nearest-upsampled by 2 when upsample.

    It fails with a pointed message unless `skip` is the one its partner DownBlock returned.
    """

    def __init__(self, dim_in: int, dim_out: int, step_dim: int, upsample: bool, seed: int, name: str,
                 partner: StandInDown, downs: list[StandInDown]) -> None:
        super().__init__()
        self.block = StandIn(2 * dim_out, dim_in, step_dim, seed, name)
        self.upsample, self.name = upsample, name
        self.partner, self.downs = [partner], list(downs)  # lists: not registered as submodules

    def forward(self, x: Tensor, step_emb: Tensor, skip: Tensor) -> Tensor:
        partner = self.partner[0]
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


def concat_input_check(x_shape: tuple[int, ...], name: str) -> Callable[[Tensor], None]:
    """A check of what an UpBlock's block1 receives: x and skip (both x_shape) concatenated on channels."""
    B, C, H, W = x_shape
    axes = {(2 * B, C, H, W): "the batch axis (dim=0)", (B, C, 2 * H, W): "the height axis (dim=2)",
            (B, C, H, 2 * W): "the width axis (dim=3)"}

    def check(h: Tensor) -> None:
        shape = tuple(h.shape)
        if shape in axes:
            fail(f"{name} received shape {shape}: x and skip were concatenated on {axes[shape]}",
                 "concatenate on the channel axis: torch.cat([x, skip], dim=1) gives (B, 2 * dim_out, H, W)")
        if shape == (B, C, H, W):
            fail(f"{name} received shape {shape}, only dim_out channels: the skip was not concatenated",
                 "concatenate x and skip on the channel axis first: torch.cat([x, skip], dim=1)")
    return check
