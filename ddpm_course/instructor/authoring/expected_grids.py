"""Lesson 4's expected sample grids, from a maintainer's run on real images: `make expected-grids`.

The released notebooks carry no outputs, so a student who trains for 20 minutes on a CPU would
otherwise have no idea of what good looks like. This trains (or reloads) the CPU mode and the quick
mode on a sprite sheet of real Fashion-MNIST images (DDPM_COURSE_SPRITE: never committed), draws the
grid that the notebook's DDIM cell draws (same sampler, noise seed and size), and writes
assets/l4_expected_<mode>.png with its line of provenance in assets/PROVENANCE.md, FID included
(the notebook's protocol: its classifier, DDIM samples against the test images, the ratio to real
vs real at the same n, two sampling seeds). These grids are the only sprite-derived files in the
repository; no test depends on them.
"""
from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ddpm_course.data import SPRITE_ENV
from ddpm_course.instructor.course import ROOT
from ddpm_course.l4_training.reference import (QUICK_ENV, TrainConfig, classifier_features, ddim_sample, fid,
                                               load_images, make_schedule, select_config, to_model_range,
                                               train_classifier, train_or_resume)
from ddpm_course.plotting import image_grid

ASSETS = ROOT / "assets"
PROVENANCE = ASSETS / "PROVENANCE.md"
RUNS = ROOT / "runs"  # the runs trained for the pictures, reused by a second call
HEADER = ("# Provenance of the sprite-derived pictures\n\n"
          "Each line is written by `make expected-grids` (`ddpm_course/instructor/authoring/expected_grids.py`).\n"
          "The sprite is a sheet of real Fashion-MNIST images (`DDPM_COURSE_SPRITE`), never committed.\n\n")
NOISE_SEED = 0  # the notebook's DDIM cell: generator=torch.Generator(device).manual_seed(0)
FID_SEEDS = (1, 2)


def grid_path(mode: str) -> Path:
    return ASSETS / f"l4_expected_{mode}.png"


def expected_grid(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.Tensor:
    """The grid of the notebook's DDIM cell: config.grid_samples samples, DDIM-(config.ddim_steps), eta 0, clipped."""
    schedule = make_schedule(config).to(device)
    return ddim_sample(model, schedule, (config.grid_samples, 1, 28, 28), num_steps=config.ddim_steps,
                       generator=torch.Generator(device).manual_seed(NOISE_SEED), device=device, progress=False,
                       clip_x0=True)


def fid_scores(model: torch.nn.Module, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor,
               device: torch.device) -> tuple[int, float, list[float]]:
    """n, the real-vs-real FID and the model's FIDs over FID_SEEDS, as the notebook's Part 4 measures them, the
    classifier trained on the training images and labels."""
    test_images, _ = load_images(config, "test", device)
    classifier = train_classifier(images, labels, steps=config.classifier_steps, batch_size=config.classifier_batch,
                                  seed=config.seed)
    n = min(config.eval_samples, len(test_images), len(images))
    real_test = classifier_features(classifier, to_model_range(test_images[:n]))
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n].to(device)
    baseline = fid(classifier_features(classifier, to_model_range(images[pick])), real_test)
    schedule = make_schedule(config).to(device)
    scores = []
    for seed in FID_SEEDS:
        generator = torch.Generator(device).manual_seed(seed)
        samples = torch.cat([ddim_sample(model, schedule, (len(chunk), 1, 28, 28), num_steps=config.ddim_steps,
                                         generator=generator, device=device, progress=False, clip_x0=True)
                             for chunk in torch.arange(n).split(150)])
        scores.append(fid(classifier_features(classifier, samples), real_test))
    return n, baseline, scores


def make(mode: str, sprite: str, device: torch.device) -> str:
    """Train or reload `mode` on the sprite, write its grid, return its line of provenance."""
    env = {SPRITE_ENV: sprite, QUICK_ENV: "1" if mode == "quick" else ""}
    config, _ = select_config(env, cuda=False)  # the CPU-sized run even on a GPU: it is the one a picture is for
    images, labels = load_images(config, "train", device)
    run = train_or_resume(config, images, make_schedule(config).to(device), RUNS / f"expected-{config.name}",
                          device)
    model = run.ema.model.eval()
    grid = image_grid(expected_grid(model, config, device).cpu(), nrow=min(16, config.grid_samples)).numpy()
    plt.imsave(grid_path(mode), grid[0], cmap="gray", vmin=0, vmax=1)
    n, baseline, scores = fid_scores(model, config, images, labels, device)
    fids, ratios = (" and ".join(f"{s:.2f}" for s in scores), " and ".join(f"{s / baseline:.2f}x" for s in scores))
    meaning = " (meaningless: the quick mode's model is tiny and barely trained)" if config.quick else ""
    return (f"- `{grid_path(mode).name}`: {config.grid_samples} DDIM-{config.ddim_steps} samples (eta 0, x0 clipped, "
            f"noise seed {NOISE_SEED}) of the EMA model of the {mode} mode after {run.step} steps of "
            f"{config.batch_size} on the sprite's {len(images)} training images; FID {fids} "
            f"(sampling seeds {', '.join(map(str, FID_SEEDS))}, n = {n}) = {ratios} real vs real "
            f"({baseline:.2f}){meaning}; made on {datetime.date.today().isoformat()}.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("cpu", "quick"), action="append",
                        help="which grid(s) to make (default: both)")
    args = parser.parse_args(argv)
    sprite = os.environ.get(SPRITE_ENV)
    if not sprite or not Path(sprite).is_file():
        raise SystemExit(f"set {SPRITE_ENV} to a sprite sheet of real Fashion-MNIST images (a 30x30 grid of 28x28 "
                         f"tiles, three rows per class): got {sprite!r}")
    device = torch.device("cpu")
    lines = {line.split("`")[1]: line for line in PROVENANCE.read_text().splitlines()
             if line.startswith("- `")} if PROVENANCE.exists() else {}
    for mode in args.mode or ["cpu", "quick"]:
        lines[grid_path(mode).name] = make(mode, sprite, device)
        print(lines[grid_path(mode).name], flush=True)
        PROVENANCE.write_text(HEADER + "\n".join(lines[name] for name in sorted(lines)) + "\n")


if __name__ == "__main__":
    main()
