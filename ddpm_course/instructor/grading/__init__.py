"""Grading: the executor that runs a student's notebook and the checker that grades it."""
