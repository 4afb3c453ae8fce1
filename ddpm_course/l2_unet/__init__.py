"""Lesson 2: assembling the DDPM U-Net from residual, attention, down, mid and up blocks.

You build: attention and residual blocks, down, mid and up blocks, the U-Net.
"""
