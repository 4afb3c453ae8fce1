"""Maintainer and instructor tooling: release, reference export, the bug bank, grading.

Not needed by students; the student bundle leaves this folder out.
"""
