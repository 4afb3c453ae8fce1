"""The student package: is `make student-package`'s wheel a valid wheel (PEP 427) of exactly the package files the
student bundle ships for a lesson, with pyproject.toml's metadata, holding no hidden check or answer?

Builds every lesson's wheel (milliseconds each); one test installs the last lesson's with pip into a bare folder
and imports its checks in an isolated interpreter (a few seconds, torch's import included).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from ddpm_course.instructor import course, roles
from ddpm_course.instructor.platforms import student_bundle, student_package
from leaks import answer_leaks, hidden_leaks

LESSONS = course.lessons()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    return {lesson: student_package.build(lesson, out) for lesson in LESSONS}


def files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def package_part(wheel: Path) -> dict[str, bytes]:
    """The wheel's files but its .dist-info folder."""
    return {name: data for name, data in files(wheel).items() if not name.split("/")[0].endswith(".dist-info")}


@pytest.mark.parametrize("lesson", LESSONS)
def test_wheel_holds_exactly_the_student_bundles_package_files(lesson, wheels):
    """Are the wheel's package files, byte for byte, the role table's student files of the lesson, which are the
    student bundle's ddpm_course/?"""
    student = roles.package_files(lesson, roles.STUDENT)
    expected = {p.relative_to(course.ROOT).as_posix(): p.read_bytes() for p in student}
    bundled = {name.split("/", 1)[1] for name in student_bundle.contents(lesson)
               if name.split("/")[1] == "ddpm_course"}
    assert package_part(wheels[lesson]) == expected
    assert set(expected) == bundled


@pytest.mark.parametrize("lesson", LESSONS)
def test_wheel_is_a_valid_wheel_with_the_projects_metadata(lesson, wheels):
    """Does the file name parse as a wheel's, with the lesson as the version's local label, and do WHEEL, METADATA
    (pyproject.toml's name, Python requirement and dependencies) and RECORD (every file's hash and size) say
    what PEP 427 asks?"""
    project = course.pyproject()["project"]
    name, version, _, tags = parse_wheel_filename(wheels[lesson].name)
    assert (name, str(version), {str(tag) for tag in tags}) == (
        "ddpm-course", f"{project['version']}+{lesson.replace('_', '')}", {"py3-none-any"})
    content = files(wheels[lesson])
    info = f"ddpm_course-{version}.dist-info"
    assert {n for n in content if n.startswith(info)} == {f"{info}/{n}" for n in ("METADATA", "WHEEL", "RECORD")}
    wheel = Parser().parsestr(content[f"{info}/WHEEL"].decode())
    assert (wheel["Wheel-Version"], wheel["Root-Is-Purelib"], wheel["Tag"]) == ("1.0", "true", "py3-none-any")
    metadata = Parser().parsestr(content[f"{info}/METADATA"].decode())
    assert (metadata["Name"], metadata["Version"], metadata["Requires-Python"]) == (
        project["name"], str(version), project["requires-python"])
    assert metadata.get_all("Requires-Dist") == project["dependencies"]
    record = {row.split(",")[0]: row.split(",", 1)[1] for row in content[f"{info}/RECORD"].decode().splitlines()}
    digest = {n: base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
              for n, data in content.items()}
    assert record == {n: f"sha256={digest[n]},{len(data)}" if n != f"{info}/RECORD" else ","
                      for n, data in content.items()}


@pytest.mark.parametrize("lesson", LESSONS)
def test_wheel_holds_no_hidden_check_bug_bank_or_answer(lesson, wheels):
    """Are hidden.py, bugs.py, instructor/, the reference solutions of this and later lessons and the closed forms
    of later lessons absent, and no line of a hidden check or of an answer to this or a later lesson anywhere?"""
    content = {name: data.decode() for name, data in files(wheels[lesson]).items()}
    later = course.lessons_from(lesson)
    withheld = [n for n in content if n.endswith(("hidden.py", "bugs.py")) or "instructor/" in n
                or any(n == f"ddpm_course/{name}/reference.py" for name in later)
                or any(n == f"ddpm_course/{name}/closed_forms.py" for name in later[1:])]
    assert withheld == []
    assert hidden_leaks(content) == [] and answer_leaks(content, lesson) == []


def test_the_same_files_give_the_same_wheel(wheels, tmp_path):
    """Built again, is the wheel the same bytes (no timestamp or order of the file system in it)?"""
    lesson = LESSONS[0]
    assert student_package.build(lesson, tmp_path).read_bytes() == wheels[lesson].read_bytes()


IMPORT_CHECKS = """
import importlib, importlib.util, json, sys
sys.path[:0] = json.loads(sys.argv[1])
checks = importlib.import_module(f"ddpm_course.{sys.argv[2]}.checks")
print(json.dumps({"checks": checks.__file__,
                  "instructor": importlib.util.find_spec("ddpm_course.instructor") is not None,
                  "hidden": importlib.util.find_spec(f"ddpm_course.{sys.argv[2]}.hidden") is not None}))
"""


def test_pip_installs_the_last_lessons_wheel_and_its_checks_import_from_it(wheels, tmp_path):
    """Installed by pip into a bare folder, does `import ddpm_course.<lesson>.checks` work from it alone, earlier
    lessons' references included, with no instructor tooling or hidden checks to find?"""
    lesson, target = LESSONS[-1], tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-index", "--target", str(target), str(wheels[lesson])], check=True, timeout=120)
    # -I -S: no environment, no user site, no .pth files (so not the repository's editable install)
    paths = [str(target), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    result = subprocess.run([sys.executable, "-I", "-S", "-c", IMPORT_CHECKS, json.dumps(paths), lesson],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"MPLBACKEND": "Agg", "MPLCONFIGDIR": str(tmp_path / "mpl"), "PATH": ""})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().split("\n")[-1])
    assert Path(found["checks"]).is_relative_to(target)
    assert not found["instructor"] and not found["hidden"]


def test_the_readmes_wheel_sizes_are_what_the_wheels_measure(wheels):
    """Are the sizes the README gives, for lesson 1's wheel and the last lesson's, within 10% of the wheels'?"""
    text = " ".join((course.ROOT / "README.md").read_text().split())
    said = re.search(r"(\d+) KiB for lesson 1, (\d+) KiB for lesson (\d+)\), with pyproject", text)
    assert said and int(said.group(3)) == len(LESSONS), "the README gives the wheels' sizes"
    for figure, lesson in zip(said.groups()[:2], (LESSONS[0], LESSONS[-1])):
        measured = wheels[lesson].stat().st_size / 1024
        assert abs(int(figure) - measured) <= 0.1 * measured, (lesson, figure, round(measured))
