"""`make bench`: training and sampling throughput on this machine, and the runtime of every graded check.

    python -m ddpm_course.instructor.qa.bench                      # lesson 4's default model
    python -m ddpm_course.instructor.qa.bench --quick              # its tiny quick-mode config: seconds on a CPU
    python -m ddpm_course.instructor.qa.bench --lesson l1_blocks   # time only these lessons' checks (repeatable)

Training compares the course's setup (mixed precision on a GPU; channels_last and torch.compile
when they pay off) with a plain fp32 eager baseline of the same model, then the U-Net's layout
(attention at every level, as lesson 2's blocks allow, against the default without attention
at 28x28) and PyTorch's fused attention kernel against the course's own attention. Sampling times DDIM and
DDPM; on a CPU, or with --quick, both are extrapolated from a few steps, since their cost is the
number of model calls times the cost of one. Not part of `make test`.
"""
import argparse
import contextlib
import os
import platform
import time
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ddpm_course.instructor import course
from ddpm_course.instructor.qa import bank
from ddpm_course.l1_blocks.reference import SelfAttention
from ddpm_course.l3_diffusion.reference import p_sample_step
from ddpm_course.l4_training.reference import (CPU, QUICK, Batches, TrainConfig, autocast_dtype, ddim_sample,
                                               make_model, make_schedule, mixed_precision, new_run, synchronize,
                                               train_step)

CHECK_BUDGET_S = 1.0  # what the course promises for one check


class Setup(NamedTuple):
    """One way to run the same model."""
    name: str
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    sdpa: bool = False  # attention through F.scaled_dot_product_attention instead of the course's own


def setups(device: torch.device) -> list[Setup]:
    """The baseline first, then the candidates for the course's setup on this device."""
    baseline = Setup("fp32 eager (baseline)")
    if device.type != "cuda":
        # autocast brings nothing to this model on a CPU, and torch.compile needs minutes of C++ builds
        return [baseline, Setup("fp32 channels_last", channels_last=True)]
    amp = {torch.bfloat16: "bf16", torch.float16: "fp16"}[autocast_dtype(device)]
    return [baseline, Setup(f"{amp} autocast", amp=True), Setup(f"{amp} + channels_last", amp=True, channels_last=True),
            Setup(f"{amp} + torch.compile", amp=True, compile=True),
            Setup(f"{amp} + compile + channels_last", amp=True, channels_last=True, compile=True)]


def sdpa_forward(self: SelfAttention, x: Tensor) -> Tensor:
    """SelfAttention.forward with PyTorch's fused kernel for the softmax(q k^T / sqrt(d)) v part."""
    B, C, H, W = x.shape
    tokens = rearrange(x, "b c h w -> b (h w) c")
    q, k, v = (rearrange(proj(tokens), "b n (heads d) -> b heads n d", heads=self.num_heads)
               for proj in (self.to_q, self.to_k, self.to_v))
    mixed = rearrange(F.scaled_dot_product_attention(q, k, v), "b heads n d -> b n (heads d)")
    return rearrange(self.to_out(mixed), "b (h w) c -> b c h w", h=H, w=W)


def use_sdpa(model: nn.Module) -> None:
    """Route every SelfAttention of the model through sdpa_forward (same weights, same maths)."""
    for module in model.modules():
        if isinstance(module, SelfAttention):
            module.forward = sdpa_forward.__get__(module)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    return f"CPU: {model}, {torch.get_num_threads()} threads"


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds that fn() takes, the GPU's queue included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def train_throughput(config: TrainConfig, setup: Setup, device: torch.device, warmup: int, steps: int,
                     repeats: int) -> dict:
    """Images per second of train_step with this setup, after `warmup` steps (which also compile):
    the best of `repeats` timings of `steps` steps, since other jobs only ever slow a run down."""
    config = config._replace(amp=setup.amp, channels_last=setup.channels_last, compile=setup.compile)
    run = new_run(config, device)
    if setup.sdpa:
        use_sdpa(run.model)
    images = torch.randint(0, 256, (4 * config.batch_size, 1, 28, 28), dtype=torch.uint8, device=device)
    batches, schedule = Batches(images, config.batch_size, config.seed), make_schedule(config).to(device)

    def step() -> None:
        train_step(run, batches(run.step, run.generator), schedule)  # channels_last as the config says

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    first = timed(lambda: [step() for _ in range(warmup)], device)
    seconds = min(timed(lambda: [step() for _ in range(steps)], device) for _ in range(repeats))
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"images_s": steps * config.batch_size / seconds, "warmup_s": first, "peak_gb": peak}


def sample_throughput(config: TrainConfig, amp: bool, device: torch.device, batch: int, steps: int) -> dict:
    """Images per second of DDIM-(config.ddim_steps) and DDPM-(T), from `steps` model calls of each sampler."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = make_model(config).to(device).eval()
    schedule = make_schedule(config).to(device)
    shape, T = (batch, 1, 28, 28), config.timesteps

    def ddim(n: int) -> None:
        with mixed_precision(device, amp):
            ddim_sample(model, schedule, shape, num_steps=n, device=device, progress=False)

    def ddpm(n: int) -> None:
        x = torch.randn(shape, device=device)
        with torch.no_grad(), mixed_precision(device, amp):
            for t in range(T - 1, T - 1 - n, -1):
                x, _ = p_sample_step(model, x, t, schedule)

    ddim(1)  # warm-up: kernels, allocator
    ddim_steps, ddpm_steps = min(steps, config.ddim_steps), min(steps, T)
    ddim_s = min(timed(lambda: ddim(ddim_steps), device) for _ in range(2)) / ddim_steps * config.ddim_steps
    ddpm_s = min(timed(lambda: ddpm(ddpm_steps), device) for _ in range(2)) / ddpm_steps * T
    return {"ddim": batch / ddim_s, "ddpm": batch / ddpm_s, "ddim_steps": ddim_steps, "ddpm_steps": ddpm_steps}


def time_checks(lesson: str) -> list[tuple[str, float, float, str | None]]:
    """(grade_id, visible s, hidden s, failure) of every graded cell of the lesson, on the reference solution,
    as the bug bank runs them."""
    return [(gid, r.visible_s, r.hidden_s, (r.visible or r.hidden or "").split("\n")[0][:80] or None)
            for gid, r in bank.run_lesson(lesson).items()]


def print_training(rows: list[tuple[Setup, dict | str]], batch: int) -> Setup:
    """The training table; returns the fastest setup that ran."""
    print(f"\ntraining (batch {batch})              images/s   vs baseline   first steps   peak GPU memory")
    base = rows[0][1]["images_s"] if isinstance(rows[0][1], dict) else None
    ran = [(setup, r) for setup, r in rows if isinstance(r, dict)]
    best = max(ran, key=lambda row: row[1]["images_s"])[0]
    for setup, result in rows:
        if isinstance(result, str):
            print(f"  {setup.name:32} failed: {result}")
            continue
        ratio = f"{result['images_s'] / base:10.2f}x" if base else " " * 11
        peak = f"{result['peak_gb']:8.2f} GB" if result["peak_gb"] is not None else "       -"
        mark = "   <- fastest" if setup == best else ""
        print(f"  {setup.name:32} {result['images_s']:9.1f} {ratio} {result['warmup_s']:11.1f} s {peak}{mark}")
    return best


def print_layouts(config: TrainConfig, setup: Setup, default_images_s: float, device: torch.device, warmup: int,
                  steps: int, repeats: int) -> None:
    """Training throughput of the default U-Net (measured already, with `setup`) against attention at every
    level, and with fused attention."""
    everywhere = (True,) * len(config.dim_mults)

    def measure(layout: TrainConfig, how: Setup) -> float:
        return train_throughput(layout, how, device, warmup, steps, repeats)["images_s"]

    base = measure(config._replace(attention_levels=everywhere), setup)
    rows = [(f"attention at every level {everywhere}", base), (f"default {config.attention_levels}", default_images_s),
            ("default + F.scaled_dot_product_attention", measure(config, setup._replace(sdpa=True)))]
    print(f"\nU-Net layout ({setup.name}, batch {config.batch_size})     images/s   vs attention everywhere")
    for name, images_s in rows:
        print(f"  {name:44} {images_s:9.1f} {images_s / base:10.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the tiny quick-mode config, a few steps")
    parser.add_argument("--lesson", action="append", choices=course.lessons(), help="time only these lessons' checks")
    parser.add_argument("--no-checks", action="store_true", help="skip timing the graded checks")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    # on a CPU, the notebook's CPU mode: the full model at batch 64
    config = TrainConfig(**QUICK) if args.quick else TrainConfig() if cuda else TrainConfig(**CPU)
    warmup, steps, repeats = (1, 1, 2) if args.quick else (10, 20, 3) if cuda else (1, 1, 3)
    n_params = sum(p.numel() for p in make_model(config).parameters())
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if not cuda and load > 0.5 * (os.cpu_count() or 1):
        print(f"warning: the machine is busy (load average {load:.1f} on {os.cpu_count()} cores): CPU figures "
              f"vary several-fold from run to run")
    print(f"model: U-Net channels={config.channels}, dim_mults={config.dim_mults}, attention_levels="
          f"{config.attention_levels}, {n_params / 1e6:.2f} M parameters, T = {config.timesteps} ({config.mode} mode)")

    rows = []
    for setup in setups(device):
        try:
            rows.append((setup, train_throughput(config, setup, device, warmup, steps, repeats)))
        except Exception as err:  # e.g. torch.compile without a working compiler: report, go on
            rows.append((setup, f"{type(err).__name__}: {str(err).splitlines()[0][:90]}"))
    best = print_training(rows, config.batch_size)
    base = rows[0][1]["images_s"]
    default_setup, default = next(((s, r) for s, r in rows
                                   if s.amp and not s.compile and not s.channels_last and isinstance(r, dict)), rows[0])
    best_images_s = next(r for s, r in rows if s == best)["images_s"]
    print(f"  the notebook's default ({'mixed precision, eager' if cuda else 'fp32 eager'}) runs at "
          f"{default['images_s'] / base:.2f}x the fp32 baseline; the fastest setup, {best.name}, at "
          f"{best_images_s / base:.2f}x")
    if (best.compile or best.channels_last) and best_images_s > 1.1 * default["images_s"]:
        print(f"  -> set compile={best.compile}, channels_last={best.channels_last} in the config to use it")
    print_layouts(config, default_setup, default["images_s"], device, warmup, steps, repeats)

    batch = 2 if args.quick else 256 if cuda else 8
    sample_steps = 2 if args.quick else 3 if not cuda else 50
    print(f"\nsampling (batch {batch})          DDIM-{config.ddim_steps} images/s   DDPM-{config.timesteps} images/s")
    for name, amp in (("fp32", False), ("mixed precision", True)) if cuda else (("fp32", False),):
        result = sample_throughput(config, amp, device, batch, sample_steps)
        note = (f"   (extrapolated from {result['ddim_steps']} and {result['ddpm_steps']} steps)"
                if result["ddpm_steps"] < config.timesteps else "")
        print(f"  {name:28} {result['ddim']:12.2f} {result['ddpm']:19.3f}{note}")

    if args.no_checks:
        return
    print(f"\ngraded checks on the reference solutions (the course promises < {CHECK_BUDGET_S:.0f} s each)")
    print(f"  {'lesson':14} {'check':24} {'visible':>8} {'hidden':>8}")
    slowest = 0.0
    for lesson in args.lesson or course.lessons():
        for gid, visible_s, hidden_s, error in time_checks(lesson):
            slowest = max(slowest, visible_s, hidden_s)
            flag = f"   FAILED: {error}" if error else "   SLOW" if max(visible_s, hidden_s) > CHECK_BUDGET_S else ""
            print(f"  {lesson:14} {gid:24} {visible_s:7.2f}s {hidden_s:7.2f}s{flag}")
    print(f"  slowest: {slowest:.2f} s ({'within' if slowest <= CHECK_BUDGET_S else 'OVER'} the budget)")


if __name__ == "__main__":
    main()
