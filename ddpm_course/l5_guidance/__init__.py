"""Lesson 5: class conditioning and classifier-free guidance.

You build: a class-conditional U-Net, condition dropout, classifier-free guidance and a guided sampler.
"""
