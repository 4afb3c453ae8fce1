"""How the checks of lesson 2 build, initialise and feed the modules they test."""
from __future__ import annotations


import torch
from einops import rearrange
from torch import Tensor, nn

from ddpm_course.checking import fail, seeded


def build(cls, *args, seed: int, what: str, **kwargs) -> nn.Module:
    """cls(*args, **kwargs), initialised from a fixed seed without touching the global RNG."""
    with torch.random.fork_rng():
        # the CPU generator alone: torch.manual_seed also queues seeds for every accelerator
        # backend, which costs more than building these small modules
        torch.default_generator.manual_seed(seed)
        module = cls(*args, **kwargs)
    if not isinstance(module, nn.Module):
        fail(f"{what} should be an nn.Module, got {type(module).__name__}")
    return module


def perturb(module: nn.Module, seed: int) -> None:
    """Move every parameter off its initial value: GroupNorm's weight 1 and bias 0 would hide mistakes."""
    params = list(module.parameters())
    noise = torch.randn(sum(p.numel() for p in params), generator=seeded(seed)) * 0.1
    with torch.no_grad():
        for p, delta in zip(params, noise.split([p.numel() for p in params])):
            p.add_(delta.view_as(p))


def pointwise(layer: nn.Module, x: Tensor) -> Tensor:
    """Apply a 1x1 Conv2d, an nn.Linear over the channels, or an Identity to (B, C, H, W)."""
    if isinstance(layer, nn.Linear):
        return rearrange(layer(rearrange(x, "b c h w -> b h w c")), "b h w c -> b c h w")
    return layer(x)
