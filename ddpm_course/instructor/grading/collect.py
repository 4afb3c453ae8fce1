"""`make collect LESSON=...`: turn submissions downloaded from an LMS into submitted/.

    python -m ddpm_course.instructor.grading.collect l1_blocks [--force]

Put the LMS download (a zip of every student's files, or the files themselves) in
downloaded/<lesson>/archive/. This runs nbgrader's `zip_collect` with the course config,
the same as `nbgrader zip_collect <lesson>` run in the course root: it extracts the archive
into downloaded/<lesson>/extracted/, reads student and file from each file name with the
collector regex of nbgrader_config.py (Canvas's naming by default), and copies each notebook
to submitted/<student>/<lesson>/. A notebook under another name is copied under that name;
`make autograde` grades it if it is the student's only notebook and says so in grades.csv.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from nbgrader.apps import ZipCollectApp
from nbgrader.coursedir import CourseDirectory

from ddpm_course.instructor import course
from ddpm_course.instructor.grading.nbgrader_api import course_config


def zip_collect(root: Path, lesson: str, force: bool = False) -> list[Path]:
    """Collect root/downloaded/<lesson>/archive into root/submitted; return the notebooks there."""
    config = course_config(root=str(root), release_directory=str(course.RELEASE), assignment_id=lesson)
    config.ZipCollectApp.force = force
    config.ExtractorPlugin.force = force
    app = ZipCollectApp(config=config)
    app.coursedir = CourseDirectory(config=config)
    app.init_plugins()
    app.extract_archive_files()
    app.process_extracted_files()
    return sorted((root / "submitted").glob(f"*/{lesson}/*.ipynb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lesson", choices=course.lessons())
    parser.add_argument("--force", action="store_true", help="replace earlier extracted and collected files")
    parser.add_argument("--root", type=Path, default=course.ROOT, help="course folder (default: this repository)")
    args = parser.parse_args()
    for path in zip_collect(args.root.resolve(), args.lesson, args.force):
        print(path.relative_to(args.root.resolve()))


if __name__ == "__main__":
    main()
