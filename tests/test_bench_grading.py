"""The grading benchmark's synthetic class: does it hold the mix of submissions it promises?"""
from ddpm_course.instructor import course
from ddpm_course.instructor.grading.triage import triage
from ddpm_course.instructor.qa import bench_grading

FIRST = course.lessons()[0]


def test_a_synthetic_class_mixes_correct_buggy_stub_and_broken_notebooks(tmp_path):
    """Are n submissions written, cycling through the four kinds, each a notebook triage would grade?"""
    kinds = bench_grading.synthetic_class(tmp_path, FIRST, 6)
    assert list(kinds.values()) == ["correct", "buggy", "stub", "broken", "correct", "buggy"]
    tasks, records = triage(tmp_path)
    assert sorted(t.student for t in tasks) == sorted(kinds) and records == []
