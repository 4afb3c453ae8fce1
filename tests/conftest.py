"""Shared test settings."""
import os

# Notebook code and checks plot; tests never open a window.
os.environ.setdefault("MPLBACKEND", "Agg")
