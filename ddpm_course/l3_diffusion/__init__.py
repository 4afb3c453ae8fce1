"""Lesson 3: the diffusion process: noise schedules, forward noising, training loss and sampler.

You build: noise schedules, the forward process, the training loss and the sampler (Algorithms 1 and 2).
"""
