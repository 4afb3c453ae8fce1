"""The checks lesson 5's notebook calls, one per graded cell, split by topic: checks_model (the conditional
U-Net, condition dropout and the loss) and checks_guidance (the guided prediction and the guided sampler). They need
no trained model and no reference code of this lesson.
"""
from ddpm_course.l5_guidance.checks_guidance import guidance, guided_sampling
from ddpm_course.l5_guidance.checks_model import conditional_unet, dropout

__all__ = ["conditional_unet", "dropout", "guidance", "guided_sampling"]
