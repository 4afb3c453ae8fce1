"""The parent's side of grading integrity: is a graded cell scored only on one valid, signed "pass"?"""
import nbformat
import pytest

from ddpm_course.instructor.grading import autograded, integrity
from ddpm_course.instructor.grading.guard import MIME, sign

KEY, GID, SOURCE = b"k" * 32, "groupnorm_values", "checks.groupnorm(GroupNorm)"


def verdict(value: str, key: bytes = KEY, source: str = SOURCE) -> dict:
    return {"grade_id": GID, "verdict": value, "mac": sign(key, GID, source, value)}


@pytest.mark.parametrize(("found", "passes", "says"), [
    ([verdict("pass")], True, ""),
    ([verdict("fail")], False, "suppressed their error"),
    ([], False, "suppressed the cell's output"),
    ([verdict("pass", key=b"x" * 32)], False, "forged"),
    ([verdict("pass", source="pass")], False, "forged"),
    ([verdict("pass"), verdict("pass")], False, "forged"),
])
def test_only_one_valid_pass_verdict_passes(found, passes, says):
    """Is a missing, failed, replayed, forged (other key, other source) verdict a 0 that says why?"""
    passed, why = integrity.judge(found, KEY, GID, SOURCE)
    assert passed == passes and says in why


def test_settle_takes_the_verdict_out_and_fails_a_cell_without_one():
    """Does settle remove the verdict from the outputs, and give a silent cell an error nbgrader scores 0?"""
    meta = {"nbgrader": {"grade_id": GID, "grade": True, "solution": False, "points": 3}}
    good = nbformat.v4.new_code_cell(SOURCE, metadata=meta, outputs=[
        nbformat.v4.new_output("display_data", data={MIME: verdict("pass")})])
    silent = nbformat.v4.new_code_cell(SOURCE, metadata=meta)
    assert integrity.settle(good, KEY, SOURCE).outputs == []
    (error,) = integrity.settle(silent, KEY, SOURCE).outputs
    assert error.ename == integrity.ERROR == autograded.INTEGRITY


def test_the_guarded_cell_runs_the_exact_source():
    """Does the code run in the kernel carry the cell's source verbatim, hidden tests and quotes included?"""
    source = 'checks.x(f)\n### BEGIN HIDDEN TESTS\nrun_hidden("l1", "x", f)\n### END HIDDEN TESTS'
    namespace = {"__import__": lambda *args, **kwargs: type("G", (), {"graded": staticmethod(
        lambda gid, src: namespace.update(seen=(gid, src)))})}
    exec(integrity.graded_source(GID, source), {"__builtins__": namespace})
    assert namespace["seen"] == (GID, source)


def test_the_guard_can_be_switched_off_only_for_benchmarks():
    """Does guard=False turn off the guard but keep the preprocessor, so notebooks still run and get graded?"""
    from ddpm_course.instructor.grading.limits import limits_config
    off, on = (integrity.GuardedExecute(config=limits_config(guard=flag)) for flag in (False, True))
    assert (off.guard, on.guard) == (False, True)
    assert off.enabled == on.enabled  # nbconvert skips a preprocessor whose `enabled` is False
