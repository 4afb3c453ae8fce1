"""Lesson 4's training machinery on a CPU: exact resume, atomic checkpoints, EMA, FID/KID, config, bench.

About 15 s on a 2-core CPU, most of it the resume test (12 tiny training steps) and the bench run.
"""
import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from ddpm_course.data import load_fashion_mnist, make_fixture
from ddpm_course.l4_training import reference as ref

# the quick-mode model, with batches of 1 over 3 images: an epoch is 3 steps
TINY = ref.TrainConfig(**{**ref.QUICK, "batch_size": 1, "epochs": 2, "max_steps": 4, "fixture": True})


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: the tiny model on one thread


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory):
    root = make_fixture(tmp_path_factory.mktemp("fixture"), n_train=3, n_test=2)
    images, _ = load_fashion_mnist("train", root=root, download=False, verify=False)
    return images[:, None]


def tensors_of(run: ref.Run) -> dict:
    """Every tensor a run's future depends on, by name."""
    found = {f"model.{k}": v for k, v in run.model.state_dict().items()}
    found |= {f"ema.{k}": v for k, v in run.ema.model.state_dict().items()}
    for index, state in run.optimizer.state_dict()["state"].items():
        found |= {f"adam.{index}.{k}": torch.as_tensor(v) for k, v in state.items()}
    found["generator"] = run.generator.get_state()
    return found


def test_resume_continues_exactly_where_it_stopped(tiny_images, tmp_path):
    """Do 4 steps straight and 2 steps, a stop, a resume and 2 more give bit-identical weights, EMA,
    optimiser state, generator state and losses (across an epoch boundary)?"""
    schedule = ref.make_schedule(TINY)
    cpu = torch.device("cpu")
    straight = ref.train_or_resume(TINY, tiny_images, schedule, tmp_path / "straight", cpu, progress=False)
    torch.manual_seed(123)  # a resumed process starts with some other global RNG state
    first = ref.train_or_resume(TINY._replace(max_steps=2), tiny_images, schedule, tmp_path / "split", cpu,
                                progress=False)
    assert first.step == 2
    resumed = ref.train_or_resume(TINY, tiny_images, schedule, tmp_path / "split", cpu, progress=False)
    assert resumed.step == straight.step == 4
    assert resumed.losses == straight.losses
    mine, theirs = tensors_of(resumed), tensors_of(straight)
    assert mine.keys() == theirs.keys()
    assert [k for k in mine if not torch.equal(mine[k], theirs[k])] == []


def test_train_step_calls_the_compiled_forward_though_it_has_no_truth_value(tiny_images):
    """Does train_step use run.forward when the config compiles, without asking it for a truth value?
    torch.compile's module forwards len() to the U-Net, which has none, so `run.forward or run.model`
    raised TypeError: the compiled path never ran (found by `make bench`'s torch.compile row)."""
    run = ref.new_run(TINY, torch.device("cpu"))

    class Compiled:  # stands in for torch.compile(model), which takes minutes to build on a CPU
        calls = 0

        def __len__(self):
            raise TypeError("Unet does not support len()")

        def __call__(self, x, t):
            Compiled.calls += 1
            return run.model(x, t)

    run.forward = Compiled()
    ref.train_step(run, ref.to_model_range(tiny_images[:1]), ref.make_schedule(TINY))
    assert Compiled.calls == 1


def test_restore_refuses_a_checkpoint_with_other_training_settings(tiny_images, tmp_path):
    """Does resuming with another learning rate fail with a message naming the setting?"""
    run = ref.new_run(TINY, torch.device("cpu"))
    path = ref.save_checkpoint(ref.run_state(run), tmp_path / "checkpoint.pt")
    other = ref.new_run(TINY._replace(lr=0.5), torch.device("cpu"))
    with pytest.raises(ValueError, match="lr"):
        ref.restore(other, ref.load_checkpoint(path))


class Interrupted(BaseException):
    """Stands for a kill or Ctrl-C in the middle of torch.save."""


@pytest.mark.parametrize("error", [RuntimeError("disk full"), Interrupted()])
def test_an_interrupted_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, error):
    """When torch.save dies half-way, is the previous checkpoint still complete and no temp file left behind?"""
    path = ref.save_checkpoint({"step": 1, "weights": torch.arange(5.0)}, tmp_path / "checkpoint.pt")

    def dies_half_way(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip file")
        raise error

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(type(error)):
        ref.save_checkpoint({"step": 2, "weights": torch.zeros(5)}, path)
    monkeypatch.undo()
    state = ref.load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["weights"], torch.arange(5.0))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


@pytest.mark.parametrize(("decay", "step"), [(0.999, 0), (0.999, 5), (0.9, 1000), (0.5, 3)])
def test_ema_update_is_the_weighted_average_with_warm_up(decay, step):
    """Is one EMA update d*ema + (1-d)*weights with d = min(decay, (1+k)/(10+k)), and are buffers copied?"""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = ref.EMA(model, decay)
    before = [p.detach().clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    model(torch.randn(8, 3))  # training mode: updates the BatchNorm running statistics
    ema.update(model, step)
    d = min(decay, (1 + step) / (10 + step))
    for old, new, got in zip(before, model.parameters(), ema.model.parameters()):
        torch.testing.assert_close(got, d * old + (1 - d) * new.detach())
    for buffer, copied in zip(model.buffers(), ema.model.buffers()):
        assert torch.equal(buffer, copied)
    assert not any(p.requires_grad for p in ema.model.parameters())


def two_by_two_fid(mu1, cov1, mu2, cov2) -> float:
    """Closed form in 2-D for any covariances: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) (Cayley-Hamilton)."""
    product = cov1 @ cov2
    trace_sqrt = math.sqrt(float(product.trace()) + 2 * math.sqrt(float(torch.linalg.det(product))))
    return float(((mu1 - mu2) ** 2).sum() + cov1.trace() + cov2.trace()) - 2 * trace_sqrt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_of_two_gaussians_matches_the_closed_form(seed):
    """For non-commuting 2-D covariances, does frechet_distance match the closed form?"""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, 2, generator=g, dtype=torch.float64), torch.randn(2, 2, generator=g, dtype=torch.float64)
    cov1, cov2 = a @ a.T + 0.1 * torch.eye(2, dtype=torch.float64), b @ b.T + 0.1 * torch.eye(2, dtype=torch.float64)
    mu1, mu2 = torch.randn(2, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)
    assert ref.frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(two_by_two_fid(mu1, cov1, mu2, cov2), abs=1e-9)


def test_fid_of_samples_approaches_the_closed_form_and_zero():
    """Is FID of a sample set with itself 0, and FID of large samples of two known Gaussians near the closed form?"""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(100_000, 3, generator=g, dtype=torch.float64)
    b = torch.randn(100_000, 3, generator=g, dtype=torch.float64) * torch.tensor([2.0, 1.0, 0.5])
    b = b + torch.tensor([1.0, 0, 0])
    assert abs(ref.fid(a, a)) < 1e-9
    expected = 1.0 + (2 - 1) ** 2 + 0 + (0.5 - 1) ** 2  # ||mu||² + sum (s1 - s2)²
    assert ref.fid(a, b) == pytest.approx(expected, abs=0.05)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    """Is the unbiased KID about 0 for two samples of one distribution and clearly positive for a shifted one?"""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 400, 8, generator=g, dtype=torch.float64)
    assert abs(ref.kid(a, b)) < 0.02
    assert ref.kid(a, b + 0.5) > 0.5


@pytest.mark.parametrize(("env", "cuda", "mode", "fixture"), [
    ({}, True, "full", False),
    ({}, False, "cpu", False),
    ({"DDPM_COURSE_QUICK": "0"}, False, "full", False),
    ({"DDPM_COURSE_QUICK": "1"}, True, "quick", False),
    ({"DDPM_COURSE_QUICK": "1", "DDPM_COURSE_FIXTURE": "1"}, False, "quick", True),
    ({"DDPM_COURSE_FIXTURE": "1"}, True, "full", True),
    ({"DDPM_COURSE_FIXTURE": "1"}, False, "cpu", True),
])
def test_the_mode_is_selected_from_the_environment_and_the_device(env, cuda, mode, fixture):
    """Do DDPM_COURSE_QUICK / DDPM_COURSE_FIXTURE and the presence of a GPU pick the config the docs promise?"""
    config, notes = ref.select_config(env, cuda)
    assert (config.mode, config.quick, config.fixture) == (mode, mode == "quick", fixture)
    assert (config.channels, config.dim_mults) == ((8, (1, 2)) if mode == "quick" else (32, (1, 2, 4)))
    assert any("No GPU found: CPU mode" in note for note in notes) == (mode == "cpu")
    assert (ref.FIXTURE_BANNER in notes) == fixture
    assert config.name == mode + "-fixture" * fixture


def test_cpu_and_full_modes_train_the_same_widths_and_the_cpu_mode_attends_at_7x7_only():
    """Is the CPU mode the full mode's U-Net, attending at 7x7 only (30% faster steps), trained for fewer steps,
    and does neither attend at 28x28?"""
    full, cpu = (ref.select_config({}, cuda)[0] for cuda in (True, False))
    assert ref.make_model(full).attention_levels == (False, True, True)
    assert ref.make_model(cpu).attention_levels == (False, False, True)
    assert cpu.total_steps(60_000) == cpu.max_steps < full.total_steps(60_000)
    assert all(getattr(cpu, field) == getattr(full, field) for field in ("channels", "dim_mults", "timesteps"))


def test_a_sprite_sheet_is_opt_in_and_changes_the_run_folder():
    """Does DDPM_COURSE_SPRITE select the maintainers' sprite data, say so, and keep its checkpoints apart?"""
    config, notes = ref.select_config({"DDPM_COURSE_SPRITE": "/data/sprite.png"}, cuda=False)
    assert config.sprite == "/data/sprite.png" and config.name == "cpu-sprite"
    assert any("sprite sheet /data/sprite.png" in note for note in notes)
    assert ref.select_config({}, cuda=False)[0].sprite is None


def test_sample_every_sets_the_checkpoint_and_grid_cadence(tiny_images, tmp_path):
    """With sample_every=2 over 3-step epochs, are checkpoints and callbacks at steps 2, 4 and the last one, 5?"""
    seen = []
    config = TINY._replace(sample_every=2, max_steps=5, epochs=3)
    ref.train_or_resume(config, tiny_images, ref.make_schedule(config), tmp_path, torch.device("cpu"),
                        on_epoch_end=lambda run: seen.append(run.step), progress=False)
    assert seen == [2, 4, 5]


@pytest.mark.parametrize("value", ["yes", "2", "true"])
def test_a_malformed_switch_is_an_error(value):
    """Is a DDPM_COURSE_QUICK value other than 0 or 1 refused, rather than silently read as off?"""
    with pytest.raises(ValueError, match="DDPM_COURSE_QUICK"):
        ref.select_config({"DDPM_COURSE_QUICK": value}, cuda=True)


def test_batches_depend_only_on_the_step_and_the_generator(tiny_images):
    """Is a batch in [-1, 1], the same for the same (step, generator state), and a new shuffle each epoch?"""
    batches = ref.Batches(tiny_images, batch_size=1, seed=0)
    first = batches(4, torch.Generator().manual_seed(1))
    again = ref.Batches(tiny_images, batch_size=1, seed=0)(4, torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert first.min() >= -1 and first.max() <= 1 and first.shape == (1, 1, 28, 28)
    orders = [batches.order(epoch).tolist() for epoch in range(6)]
    assert len({tuple(o) for o in orders}) > 1 and all(sorted(o) == list(range(3)) for o in orders)


def test_bench_quick_runs_and_prints_its_tables():
    """Does `python -m ddpm_course.instructor.qa.bench --quick` run here and print the device, throughputs and
    check times?"""
    # one thread: on a shared 2-core machine two OpenMP threads can be 5x slower, and this test times nothing
    result = subprocess.run([sys.executable, "-m", "ddpm_course.instructor.qa.bench", "--quick", "--lesson",
                             "l4_training"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("device:", "fp32 eager (baseline)", "images/s", "vs baseline", "DDIM-", "DDPM-",
                     "attention at every level (True, True)", "default (False, True)", "scaled_dot_product_attention",
                     "ddim_values", "fid_values", "kid_values", "slowest:"):
        assert expected in out, (expected, out)
    assert "FAILED" not in out


def test_a_run_sized_in_steps_ignores_epochs_and_a_run_without_an_end_is_refused():
    """With epochs=None, is the run exactly max_steps long on any data set, and is a config with neither refused?"""
    config = ref.TrainConfig(epochs=None, max_steps=1500, batch_size=64)
    assert config.total_steps(600) == config.total_steps(60_000) == 1500
    with pytest.raises(ValueError, match="never end"):
        config._replace(max_steps=None).total_steps(600)


def test_the_training_api_other_code_relies_on_stays_importable():
    """Does the lesson-4 reference still export every name that tests, the bench and later work import?"""
    names = ("TrainConfig", "select_config", "make_model", "make_schedule", "new_run", "Batches", "train", "train_step",
             "ddim_sample", "train_classifier", "classifier_features", "fid", "to_model_range", "CPU", "QUICK")
    assert [name for name in names if not hasattr(ref, name)] == []
