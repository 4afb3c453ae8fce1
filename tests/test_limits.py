"""Grading limits: is a cell's output capped, errors included, and are the limits configurable per run?"""
import nbformat

from ddpm_course import grading_kernel
from ddpm_course.instructor.grading.limits import GRADING_ENVIRONMENT, CapOutput, LimitedKernelManager, limits_config
from ddpm_course.instructor.grading.nbgrader_api import course_config


def capped(*outputs, max_chars: int = 100, max_image_chars: int = 50) -> list:
    cell = nbformat.v4.new_code_cell("print('x')", outputs=list(outputs))
    cell, _ = CapOutput(max_chars=max_chars, max_image_chars=max_image_chars).preprocess_cell(cell, {}, 0)
    return cell.outputs


def test_text_beyond_the_cells_budget_is_cut_and_says_so():
    """Do two streams share one budget of characters, each cut one saying how long it was?"""
    first, second = capped(nbformat.v4.new_output("stream", text="a" * 80),
                           nbformat.v4.new_output("stream", text="b" * 80))
    assert first.text == "a" * 80
    assert second.text.startswith("b" * 20 + "\n... output truncated (80 characters)")


def test_an_error_survives_any_amount_of_printing_before_it():
    """After the budget is spent on printing, does a check's failure message still come through whole?"""
    _, failure = capped(nbformat.v4.new_output("stream", text="x" * 500),
                        nbformat.v4.new_output("error", ename="CheckFailure", evalue="Demo: wrong", traceback=[]))
    assert failure.evalue == "Demo: wrong"


def test_an_oversized_image_is_replaced_by_a_note():
    """Is a huge image dropped from the notebook, with a line saying what was removed?"""
    (output,) = capped(nbformat.v4.new_output("display_data", data={"image/png": "A" * 60}))
    assert output.data == {"text/plain": "[image/png output of 60 characters removed]"}


def test_limits_config_overrides_only_what_it_is_given():
    """Does a run's --timeout / --memory-mb reach nbgrader's config, and nothing else?"""
    config = limits_config(timeout=5, memory_mb=100)
    assert (config.Execute.timeout, config.LimitedKernelManager.memory_mb) == (5, 100)
    assert "Execute" not in limits_config(memory_mb=100)


def test_defaults_are_defined_once_in_the_classes():
    """Are the default limits those of the traits themselves (nbgrader_config.py does not repeat them)?"""
    assert LimitedKernelManager.memory_mb.default_value == 4096
    assert CapOutput.max_chars.default_value == 100_000


def test_grading_kernels_run_as_the_students_progress_runs_them_on_one_thread():
    """Do grading kernels get `make progress`'s environment and time limit (grading_kernel.py), plus one thread?"""
    assert GRADING_ENVIRONMENT == {**grading_kernel.ENVIRONMENT, "OMP_NUM_THREADS": "1"}
    assert course_config().Execute.timeout == grading_kernel.TIMEOUT
