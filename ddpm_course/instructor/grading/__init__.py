"""Grading: every route's grading of student notebooks (`make grade`, `make autograde`, pytest, Gradescope,
GitHub Classroom), and what it writes for the instructor. The grader folder ships this package whole."""
