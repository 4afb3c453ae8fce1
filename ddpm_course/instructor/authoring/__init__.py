"""Authoring: what maintainers run to turn solutions/ into what is released (`make release`): the student
notebooks, the reference code, the Colab links and setup cell, the inline diagrams, the README's tables."""
