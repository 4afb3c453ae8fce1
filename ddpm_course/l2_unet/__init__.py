"""Lesson 2: assembling the DDPM U-Net from residual, attention, down, mid and up blocks."""
