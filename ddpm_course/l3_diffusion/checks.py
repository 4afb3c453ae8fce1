"""The checks lesson 3's notebook calls, one per graded cell, split by topic: checks_forward
(schedules and the forward process, Parts 1 and 2) and checks_sampling (the loss, the reverse step
and the sampler, Parts 3 and 4).

Each check grades one exercise: it hands the student's function the stand-in schedule and
fake denoiser of fakes.py, never the student's own NoiseSchedule, and compares with the
closed forms of closed_forms.py, so one mistake costs the points of one check.
"""
from ddpm_course.l3_diffusion.checks_forward import beta_schedules, forward_process, noise_img, noise_schedule
from ddpm_course.l3_diffusion.checks_sampling import diffusion_loss, reverse_step, sampler

__all__ = ["beta_schedules", "noise_schedule", "forward_process", "noise_img", "diffusion_loss", "reverse_step",
           "sampler"]
