"""make collect: does an LMS download end up in submitted/, the way grading expects it?"""
import zipfile

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.collect import zip_collect
from ddpm_course.instructor.grading.triage import triage
from submissions import FIRST


def test_zip_collect_turns_an_lms_download_into_submitted(tmp_path):
    """Does `make collect` file each notebook of a Canvas-style zip under submitted/<student>/<lesson>/?"""
    archive = tmp_path / "downloaded" / FIRST / "archive"
    archive.mkdir(parents=True)
    text = nbformat.writes(course.read(course.release_path(FIRST)))
    with zipfile.ZipFile(archive / "submissions.zip", "w") as z:
        z.writestr(f"smithjane_12345_678901_{FIRST}.ipynb", text)
        z.writestr(f"doejohn_LATE_23456_789012_{FIRST}-1.ipynb", text)
        z.writestr("leeann_34567_890123_Untitled.ipynb", text)
    collected = zip_collect(tmp_path, FIRST)
    assert [p.relative_to(tmp_path).as_posix() for p in collected] == [
        f"submitted/doejohn/{FIRST}/{FIRST}.ipynb", f"submitted/leeann/{FIRST}/Untitled.ipynb",
        f"submitted/smithjane/{FIRST}/{FIRST}.ipynb"]
    tasks, records = triage(tmp_path)
    assert sorted(t.student for t in tasks) == ["doejohn", "leeann", "smithjane"] and records == []
