"""nbgrader configuration of the course. Paths are relative to the course root (this folder)."""
from nbgrader.preprocessors import GetGrades
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "ddpm-from-scratch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Stubs raise a message a beginner understands, and the checks turn it into "not implemented yet".
c.ClearSolutions.code_stub = {
    "python": '# YOUR CODE HERE\nraise NotImplementedError("replace this line with your solution")',
}

# Per-cell limit while autograding: an infinite loop costs one cell, not the whole batch.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Feedback shows each failure message but neither the hidden test lines nor tracebacks into them.
c.GenerateFeedback.preprocessors = [
    "ddpm_course.instructor.feedback.HideHiddenTests",
    GetGrades,
    CSSHTMLHeaderPreprocessor,
]
