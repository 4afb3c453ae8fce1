"""Lesson 3: the diffusion process: noise schedules, forward noising, training loss and sampler."""
