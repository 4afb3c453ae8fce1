"""Pictures for the notebooks: image grids, loss curves, denoising animations. No torchvision."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import torch
from einops import rearrange
from matplotlib import animation


def to_unit_range(images: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Map images from value_range to [0, 1], clipping what falls outside."""
    low, high = value_range
    return ((images.detach().float().cpu() - low) / (high - low)).clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2,
               value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """images: (N, C, H, W) or (N, H, W) -> one (C, H', W') grid in [0, 1], nrow images per row."""
    if images.dim() == 3:
        images = rearrange(images, "n h w -> n 1 h w")
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W) or (N, H, W), got {tuple(images.shape)}")
    N, C, H, W = images.shape
    nrow = nrow or math.ceil(math.sqrt(N))
    rows = math.ceil(N / nrow)
    # a white frame around each tile keeps neighbouring dark images apart
    tiles = torch.ones(rows * nrow, C, H + 2 * padding, W + 2 * padding)
    tiles[:N, :, padding:padding + H, padding:padding + W] = to_unit_range(images, value_range)
    return rearrange(tiles, "(r k) c h w -> c (r h) (k w)", k=nrow)


def show_images(images: torch.Tensor, nrow: int | None = None, title: str | None = None,
                value_range: tuple[float, float] = (-1.0, 1.0), ax: plt.Axes | None = None,
                size: float = 4.0) -> plt.Axes:
    """Show a batch of images as one grid. images: (N, C, H, W) or (N, H, W)."""
    # numpy for matplotlib: given a tensor it takes a deprecated conversion path
    grid = image_grid(images, nrow, value_range=value_range).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size * grid.shape[1] / grid.shape[2]))
    if grid.shape[0] == 1:
        ax.imshow(grid[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(rearrange(grid, "c h w -> h w c"))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_curve(values: Sequence[float], title: str = "training loss", xlabel: str = "step",
               ylabel: str = "loss", smooth: int = 50, ax: plt.Axes | None = None) -> plt.Axes:
    """Raw values, faint, and their running mean over `smooth` points, bold: a noisy loss reads at a glance."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    values = torch.as_tensor(list(values), dtype=torch.float64)
    ax.plot(values.numpy(), alpha=0.3, label="raw")
    if len(values) >= smooth > 1:
        kernel = torch.ones(smooth, dtype=torch.float64) / smooth
        running = torch.nn.functional.conv1d(values[None, None], kernel[None, None])[0, 0]
        ax.plot(range(smooth - 1, len(values)), running.numpy(), label=f"mean of {smooth}")
        ax.legend()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def save_gif(frames: Sequence[torch.Tensor], path: str | Path, fps: int = 10,
             value_range: tuple[float, float] = (-1.0, 1.0), titles: Sequence[str] | None = None) -> Path:
    """Write frames (each (N, C, H, W) or (C, H, W)) as an animated GIF; return its path."""
    grids = [image_grid(f if f.dim() == 4 else f[None], value_range=value_range).numpy() for f in frames]
    fig, ax = plt.subplots(figsize=(3, 3 * grids[0].shape[1] / grids[0].shape[2]))
    ax.set_axis_off()
    first = grids[0][0] if grids[0].shape[0] == 1 else rearrange(grids[0], "c h w -> h w c")
    image = ax.imshow(first, cmap="gray", vmin=0, vmax=1)

    def draw(i: int):
        grid = grids[i]
        image.set_data(grid[0] if grid.shape[0] == 1 else rearrange(grid, "c h w -> h w c"))
        if titles:
            ax.set_title(titles[i])
        return (image,)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    animation.FuncAnimation(fig, draw, frames=len(grids)).save(path, writer=animation.PillowWriter(fps=fps))
    plt.close(fig)
    return path
