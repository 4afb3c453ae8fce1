"""Lesson 4: training on Fashion-MNIST, DDIM sampling, FID and KID.

You build: training on Fashion-MNIST (GPU), a DDIM sampler, FID and KID.
"""
