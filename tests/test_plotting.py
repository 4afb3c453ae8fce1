"""Plotting: do image grids tile and scale images as documented, and do the figures get drawn and saved?"""
import matplotlib
import pytest
import torch

from ddpm_course import plotting

matplotlib.use("Agg")


@pytest.mark.parametrize(("shape", "nrow", "grid"), [((5, 1, 4, 6), None, (1, 2 * 8, 3 * 10)),
                                                      ((3, 4, 6), 3, (1, 8, 3 * 10)),
                                                      ((2, 3, 4, 4), 1, (3, 2 * 8, 8))])
def test_image_grid_tiles_images_with_padding(shape, nrow, grid):
    """Does a batch become one (C, H', W') grid, nrow per row (default: about square), 2 pixels of frame each?"""
    assert tuple(plotting.image_grid(torch.zeros(shape), nrow).shape) == grid


def test_image_grid_maps_the_model_range_to_unit_range_and_clips():
    """Is -1 black, 1 white, and anything beyond clipped, with white frames between tiles?"""
    grid = plotting.image_grid(torch.tensor([[[[-1.0, 0.0, 1.0, 3.0]]]]), padding=1)
    assert grid[0, 1, 1:5].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert grid[0, 0].eq(1).all()


def test_image_grid_rejects_a_single_image():
    """Does a tensor that is no batch of images get a message naming the shapes accepted?"""
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(N, H, W\)"):
        plotting.image_grid(torch.zeros(4, 4))


def test_show_images_and_plot_curve_draw_on_axes():
    """Do the helpers draw (a grey grid image; a raw and a smoothed curve) and return the axes?"""
    ax = plotting.show_images(torch.zeros(4, 1, 3, 3), title="noise")
    assert ax.get_title() == "noise" and len(ax.images) == 1
    ax = plotting.plot_curve([float(i % 7) for i in range(100)], smooth=10)
    assert [line.get_label() for line in ax.lines] == ["raw", "mean of 10"]


def test_save_gif_writes_an_animation(tmp_path):
    """Is an animated GIF written where asked, folders created?"""
    frames = [torch.full((2, 1, 4, 4), v) for v in (-1.0, 0.0, 1.0)]
    path = plotting.save_gif(frames, tmp_path / "out" / "denoise.gif", titles=["a", "b", "c"])
    assert path.read_bytes()[:6] == b"GIF89a"
