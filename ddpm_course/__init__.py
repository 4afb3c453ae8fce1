"""Support package of the course "DDPM from scratch": checks, data loading and plotting."""
