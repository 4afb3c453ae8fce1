"""Maintainer and instructor tooling, by stage of a lesson's life: authoring/ (release), grading/,
platforms/ (what students and graders get) and qa/ (the harnesses that test the checks and the grading).
course.py (the lessons and the course's paths) and roles.py (who may see each file) serve them all.

Not needed by students; the student bundle leaves this folder out.
"""
