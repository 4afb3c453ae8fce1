"""Known bugs and alternatives as edits: does an edit apply exactly once, or say why it no longer applies?"""
import pytest

from ddpm_course.mutations import Alternative, Bug


def test_an_edit_replaces_its_text_once():
    """Does a bug's edit turn the solution's line into the buggy one?"""
    bug = Bug("unbiased", "groupnorm_impl", ("unbiased=False", "unbiased=True"), fails="groupnorm_values",
              says="unbiased")
    assert bug.apply("var(x, unbiased=False)") == "var(x, unbiased=True)"
    assert repr(bug) == "groupnorm_impl: unbiased"


@pytest.mark.parametrize("source", ["nothing to edit", "a + a"], ids=["absent", "twice"])
def test_an_edit_that_no_longer_applies_says_so(source):
    """When the solution changed, does the bank name the edit instead of grading the wrong code?"""
    with pytest.raises(ValueError, match="no longer applies"):
        Alternative("demo", "cell", ("a", "b")).apply(source)
