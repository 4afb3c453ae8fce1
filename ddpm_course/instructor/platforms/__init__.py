"""Platforms: what leaves the instructor's machine: the student bundle, the grader folder, and their
packaging for Gradescope and GitHub Classroom."""
