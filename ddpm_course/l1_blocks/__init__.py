"""Lesson 1: U-Net building blocks.

You build: GroupNorm, swish/SiLU, sinusoidal embeddings, self-attention.
"""
