"""How a graded notebook runs, for the students' progress table and the instructor's grading alike.

Grading runs each notebook top to bottom in a fresh kernel; `make progress` does the same, so that a
pass there means what it means when graded. nbgrader_config.py sets nbgrader's per-cell timeout from
TIMEOUT, and the grading limits (instructor/grading/limits.py) start every kernel with ENVIRONMENT.
"""

# Seconds a cell may run before it is interrupted.
TIMEOUT = 120
# What the kernel gets unless already set: lesson 4 trains a tiny model on synthetic data (grading grades code,
# not training runs or downloads), and figures draw off screen.
ENVIRONMENT = {"DDPM_COURSE_QUICK": "1", "DDPM_COURSE_FIXTURE": "1", "MPLBACKEND": "Agg"}
