"""Lesson 4: training on Fashion-MNIST, DDIM sampling, FID and KID."""
