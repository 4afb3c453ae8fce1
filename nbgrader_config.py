"""nbgrader configuration of the course. Paths are relative to the course root (this folder)."""
from nbgrader.preprocessors import GetGrades
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

from ddpm_course.grading_kernel import TIMEOUT

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "ddpm-from-scratch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Stubs raise a message a beginner understands, and the checks turn it into "not implemented yet".
c.ClearSolutions.code_stub = {
    "python": '# YOUR CODE HERE\nraise NotImplementedError("replace this line with your solution")',
}

# Graded notebooks are untrusted code (see README, "Security"). Per-cell limit while
# autograding: an infinite loop costs one cell, not the whole batch; `make progress` uses the same
# (ddpm_course/grading_kernel.py). Override per run with `make autograde TIMEOUT=s MEMORY_MB=n`.
c.Execute.timeout = TIMEOUT
c.Execute.interrupt_on_timeout = True
# How long output may trail a cell's end (100 MB of printing takes seconds); later, the cell fails.
c.Execute.iopub_timeout = 30
# Quiet kernels: their start-up warnings would repeat once per graded notebook.
c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
# Each grading kernel's address space and each cell's text output are capped too, with the defaults
# of LimitedKernelManager and CapOutput (ddpm_course/instructor/grading/limits.py); set them here to change them.
c.Autograde.autograde_preprocessors = [
    # Execute, with the notebook in the sandboxed executor and every graded cell's checks in this process
    "ddpm_course.instructor.grading.checker.CheckedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "ddpm_course.instructor.grading.limits.CapOutput",  # LimitOutput, plus a cap on characters
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# `make collect LESSON=...` / `nbgrader zip_collect <lesson>`: read student and notebook from the
# file names of an LMS download. Canvas names each file <name>_[LATE_]<user id>_<submission id>_<file>,
# with -1, -2 appended to resubmitted files: smithjane_LATE_12345_678901_l1_blocks-1.ipynb.
# The pattern sees the full path of each extracted file.
c.FileNameCollectorPlugin.named_regexp = (
    r".*[/\\](?P<student_id>[^/\\_]+)_(?:LATE_|late_)?\d+_\d+_(?P<file_id>[^/\\]+?)(?:-\d+)?\.ipynb$"
)

# Feedback shows each failure message but neither the hidden test lines nor tracebacks into them,
# and each text progress bar as its last state (the \r-separated updates coalesced, as Jupyter shows them).
c.GenerateFeedback.preprocessors = [
    "ddpm_course.instructor.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CoalesceStreamsPreprocessor",
    GetGrades,
    CSSHTMLHeaderPreprocessor,
]
