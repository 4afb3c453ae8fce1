"""make expected-grids: lesson 4's expected sample grids, from a sprite sheet of real images."""
import matplotlib.image
import pytest
import torch
from test_data import write_sprite

from ddpm_course.data import SPRITE_ENV
from ddpm_course.instructor.authoring import expected_grids


@pytest.fixture
def private_assets(tmp_path, monkeypatch):
    """The module's folders moved to tmp_path, so that a test never rewrites the committed grids."""
    monkeypatch.setattr(expected_grids, "ASSETS", tmp_path / "assets")
    monkeypatch.setattr(expected_grids, "PROVENANCE", tmp_path / "assets" / "PROVENANCE.md")
    monkeypatch.setattr(expected_grids, "RUNS", tmp_path / "runs")
    (tmp_path / "assets").mkdir()
    return tmp_path / "assets"


def test_a_sprite_gives_the_grid_and_its_line_of_provenance_and_other_lines_stay(tmp_path, monkeypatch,
                                                                                  private_assets, one_thread):
    """Does the quick mode on a sprite write the notebook's DDIM grid and a provenance line saying the steps,
    the data and the FID ratio, keeping the lines of the other pictures?"""
    tiles = torch.randint(0, 256, (30, 30, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    write_sprite(tmp_path / "sprite.png", tiles)
    monkeypatch.setenv(SPRITE_ENV, str(tmp_path / "sprite.png"))
    (private_assets / "PROVENANCE.md").write_text("- `l4_expected_cpu.png`: an earlier line\n")
    expected_grids.main(["--mode", "quick"])
    grid = matplotlib.image.imread(private_assets / "l4_expected_quick.png")
    assert grid.shape[:2] == (32, 4 * 32)  # 4 samples of 28x28, each framed by 2 pixels
    lines = (private_assets / "PROVENANCE.md").read_text().splitlines()
    assert "- `l4_expected_cpu.png`: an earlier line" in lines
    [line] = [line for line in lines if line.startswith("- `l4_expected_quick.png`")]
    assert "after 10 steps of 2 on the sprite's 600 training images" in line and "real vs real" in line


def test_without_a_sprite_it_says_what_to_set(monkeypatch, private_assets):
    """Is a missing DDPM_COURSE_SPRITE refused with the variable's name, before anything is written?"""
    monkeypatch.delenv(SPRITE_ENV, raising=False)
    with pytest.raises(SystemExit, match=SPRITE_ENV):
        expected_grids.main([])
    assert list(private_assets.iterdir()) == []
