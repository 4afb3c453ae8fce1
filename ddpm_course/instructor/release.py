"""`make release`: regenerate the student notebooks and the reference export from solutions/.

    python -m ddpm_course.instructor.release            # write notebooks/ and reference.py files
    python -m ddpm_course.instructor.release --into DIR # release into DIR instead (used by tests)
    python -m ddpm_course.instructor.release --lesson l1_blocks   # just one lesson
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ddpm_course.instructor.course import RELEASE, export_references, lessons
from ddpm_course.instructor.nbgrader_api import check, make_api


def generate_release(release_dir: Path, names: list[str] | None = None) -> None:
    """Run nbgrader generate_assignment for each lesson, with a throwaway gradebook."""
    with tempfile.TemporaryDirectory() as tmp:
        api = make_api(Path(tmp), release_dir)
        for lesson in names or lessons():
            # force: without it nbgrader silently keeps an existing, possibly stale, release
            check(api.generate_assignment(lesson, force=True), f"generate_assignment {lesson}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--into", type=Path, default=RELEASE, help="release folder (default: notebooks/)")
    parser.add_argument("--lesson", action="append", choices=lessons(), help="only this lesson (repeatable)")
    args = parser.parse_args()
    names = args.lesson or lessons()
    if args.into.resolve() == RELEASE:
        for path in export_references(names):
            print(f"exported {path.relative_to(RELEASE.parent)}")
    generate_release(args.into.resolve(), names)
    print(f"released {', '.join(names)} into {args.into}")


if __name__ == "__main__":
    main()
