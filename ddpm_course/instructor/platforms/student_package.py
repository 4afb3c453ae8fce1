"""`make student-package [LESSON=name]`: a wheel of the course's package as students get it for a lesson.

    python -m ddpm_course.instructor.platforms.student_package [--lesson NAME] [--into dist/]

dist/ddpm_course-<version>+<lesson, without underscores>-py3-none-any.whl holds exactly the package files
that the student bundle ships for the lesson (the role table's `student` audience: no hidden check, bug
bank or instructor tooling, no reference solution of this lesson or a later one), with the version,
Python requirement and dependencies of pyproject.toml. It is what a graded class's Colab setup cell
installs ([tool.ddpm-course] colab-install, README "Instructor guide"), in place of the public repository.

The wheel is written here rather than by pip or `build`: those package whatever setuptools finds, the
whole ddpm_course/, and the role table would have to be re-expressed as their exclusions. Writing the
zip directly is a few lines of PEP 427, and gives the same bytes for the same files (fixed timestamps).
"""
from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from ddpm_course.instructor import course, roles
from ddpm_course.instructor.platforms.files import lesson_arguments

TAG = "py3-none-any"  # pure Python, any interpreter: the file name's tag (course.student_package_wheel)
TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: the same files give the same wheel
WHEEL = f"Wheel-Version: 1.0\nGenerator: {__name__}\nRoot-Is-Purelib: true\nTag: {TAG}\n"


def metadata(lesson: str) -> str:
    """The wheel's METADATA (core metadata 2.1), from pyproject.toml's [project]."""
    project = course.pyproject()["project"]
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {course.student_package_version(lesson)}",
             f"Summary: {project['description']} (the student package of {lesson})",
             f"Requires-Python: {project['requires-python']}"]
    lines += [f"Requires-Dist: {dependency}" for dependency in project["dependencies"]]
    return "\n".join(lines) + "\n"


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def contents(lesson: str) -> dict[str, bytes]:
    """Path inside the wheel -> bytes: the student package files of the lesson, then the .dist-info files,
    RECORD last (it lists every other file with its hash)."""
    files = {p.relative_to(course.ROOT).as_posix(): p.read_bytes() for p in roles.package_files(lesson, roles.STUDENT)}
    info = f"ddpm_course-{course.student_package_version(lesson)}.dist-info"
    files[f"{info}/METADATA"] = metadata(lesson).encode()
    files[f"{info}/WHEEL"] = WHEEL.encode()
    record = [record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    return files


def build(lesson: str, into: Path) -> Path:
    """Write into/<course.student_package_wheel(lesson)>; return its path."""
    target = into / course.student_package_wheel(lesson)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents(lesson).items():
            info = zipfile.ZipInfo(name, TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return target


def main() -> None:
    args = lesson_arguments(__doc__, "the lesson the package is for")
    path = build(args.lesson, args.into)
    print(f"{path}: {len(contents(args.lesson))} files, {path.stat().st_size / 1024:.0f} KiB\n"
          f"Host it where students can download it, and set [tool.ddpm-course] colab-install in pyproject.toml to "
          f"its URL, {{wheel}} standing for its file name; then `make release` (README, \"Instructor guide\").")


if __name__ == "__main__":
    main()
