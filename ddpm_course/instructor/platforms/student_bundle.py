"""`make student-bundle [LESSON=name]`: a zip of what students need up to a lesson, and nothing more.

    python -m ddpm_course.instructor.platforms.student_bundle [--lesson NAME] [--into dist/]

dist/ddpm-course-<lesson>.zip holds one folder, ddpm-course-<lesson>/, with
- notebooks/ of every lesson up to <lesson> (the student release: the files of each lesson's
  folder, not its subfolders, where running a notebook in place leaves checkpoints),
- the support package ddpm_course/: what the role table (roles.py) gives the `student` audience of
  <lesson>: the check framework, data loading and plotting, the visible grading, every lesson's visible
  checks up to <lesson> and what they use, and the reference solutions (reference.py) only of lessons
  *before* <lesson>: later lessons build on them, and they would be the answers of <lesson> itself;
- assets/, requirements.txt, pyproject.toml, and a short README for students.
The default lesson is the last one. A module that the role table does not know stays out.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from ddpm_course.instructor import course, roles
from ddpm_course.instructor.platforms.files import PROGRESS, STUDENT_SET_UP, Files, lesson_arguments, write_zip

TOP_FILES = ("requirements.txt", "pyproject.toml")

README = """# DDPM from scratch: {title}

You build the denoising diffusion model of Ho et al. (2020) piece by piece, in Jupyter
notebooks with checks that tell you within a second what is wrong.

{set_up}
On Colab: upload this zip, then run `!unzip -q {name}.zip`, `%cd {name}` and
`!pip install -q einops fancy_einsum -e .` in the first cell.

## Work through a lesson

Open notebooks/<lesson>/<lesson>.ipynb. Each part explains an idea, then gives a stub:
replace its `raise NotImplementedError(...)` line with your code and run the check cell
below it. A check prints `passed`, or one message that names the failing case, shows
expected vs got, and gives a hint. Grading adds hidden cases: aim for correct code, not
green checks. Keep the names a stub prescribes.

To see every exercise at once, passed or not, as grading runs your notebooks (top to bottom,
in a fresh kernel, visible checks only):

{progress}
## Hand in

Save the notebook and hand in notebooks/<lesson>/<lesson>.ipynb under that file name,
without other files.

Lessons in this bundle: {lessons}.
"""


def bundle_name(lesson: str) -> str:
    return f"ddpm-course-{lesson}"


def contents(lesson: str) -> Files:
    """Path inside the zip -> file in the repository, or text (the README)."""
    chosen = roles.package_files(lesson, roles.STUDENT)
    for name in course.lessons_up_to(lesson):
        # the release folder's own files only: subfolders there are what running it left (runs/, data/)
        chosen += [p for p in (course.RELEASE / name).iterdir() if p.is_file() and not p.name.startswith(".")]
    chosen += [p for p in (course.ROOT / "assets").rglob("*") if p.is_file()]
    chosen += [course.ROOT / name for name in TOP_FILES]
    prefix = bundle_name(lesson)
    readme = README.format(title=f"lessons up to {lesson}", name=prefix,
                           set_up=STUDENT_SET_UP.format(open="notebooks/"),
                           progress=PROGRESS.format(notebooks=""), lessons=", ".join(course.lessons_up_to(lesson)))
    return {f"{prefix}/README.md": readme} | {f"{prefix}/{p.relative_to(course.ROOT).as_posix()}": p for p in chosen}


def build(lesson: str, into: Path) -> Path:
    """Write into/ddpm-course-<lesson>.zip; return its path."""
    return write_zip(contents(lesson), into / f"{bundle_name(lesson)}.zip")


def main() -> None:
    args = lesson_arguments(__doc__, "the last lesson in the bundle")
    path = build(args.lesson, args.into)
    with zipfile.ZipFile(path) as archive:
        count = len(archive.namelist())
    print(f"{path}: {count} files, {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
