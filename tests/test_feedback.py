"""Feedback pages: does a student see the failure, never the hidden test code or a traceback into it?"""
import nbformat

from ddpm_course.instructor.grading.feedback import HideHiddenTests


def test_hidden_region_and_traceback_are_removed_the_message_stays():
    """Is the hidden-test region gone, and the traceback cut to its last line, `CheckFailure: message`?"""
    cell = nbformat.v4.new_code_cell(
        "checks.demo(fn)\n### BEGIN HIDDEN TESTS\nrun_hidden('l1_blocks', 'demo', fn)\n### END HIDDEN TESTS",
        outputs=[nbformat.v4.new_output("error", ename="CheckFailure", evalue="Demo: wrong",
                                        traceback=["  File hidden.py, line 3", "    run_hidden(...)", "CheckFailure"])])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "demo_values", "points": 1}
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert "run_hidden" not in cell.source and "HIDDEN" not in cell.source
    assert cell.outputs[0].traceback == ["CheckFailure: Demo: wrong"]
