"""What leaves the instructor's machine is a set of files, path inside -> file of the repository or text,
written as a folder (GitHub Classroom, the grader folder) or a zip (the student bundle, Gradescope); and
the pieces that what students and graders read and run share: the set-up steps, torch's CPU install; and
the command line of the builders of what students get for a lesson (the bundle, the package).
"""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from ddpm_course.instructor import course

Files = dict[str, Path | str]

# torch's CPU wheels: PyPI's Linux wheel brings gigabytes of CUDA that graders, CI and Colab-less laptops never use.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# How a student sets up the course's environment, in a README: the notebook to open goes in {open}.
STUDENT_SET_UP = """## Set up (Python 3.11+)

    python -m venv .venv
    .venv/bin/pip install -r requirements.txt -e .      # Windows: .venv\\Scripts\\pip ...
    .venv/bin/jupyter lab {open}
"""
# How a student sees every exercise at once, as grading runs the notebooks: {notebooks} names them, or is empty.
PROGRESS = "    .venv/bin/python -m ddpm_course.progress{notebooks}\n"


def torch_cpu_install(pip: str, requirements: str) -> str:
    """The shell command that installs the pinned torch of `requirements` from its CPU wheels, with `pip`;
    the rest of the requirements go after it."""
    return f"{pip} install --quiet --index-url {TORCH_CPU_INDEX} \"$(grep '^torch==' {requirements})\""


def write_tree(files: Files, into: Path) -> Path:
    """Write each file into the folder `into`; return it."""
    for name, source in files.items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            target.write_bytes(source.read_bytes())
        else:
            target.write_text(source)
    return into


def write_zip(files: Files, target: Path, executables: tuple[str, ...] = ()) -> Path:
    """Write the files into the zip `target`, those named in `executables` executable; return its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(files.items()):
            info = zipfile.ZipInfo(name) if not isinstance(source, Path) else zipfile.ZipInfo.from_file(source, name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if name in executables else 0o100644) << 16
            archive.writestr(info, source.read_bytes() if isinstance(source, Path) else source)
    return target


def lesson_arguments(doc: str, lesson_help: str) -> argparse.Namespace:
    """The command line of a builder of what students get: --lesson (default: the last) and --into (dist/)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lesson", choices=course.lessons(), default=course.lessons()[-1],
                        help=f"{lesson_help} (default: the last of the course)")
    parser.add_argument("--into", type=Path, default=course.ROOT / "dist", help="output folder (default: dist/)")
    return parser.parse_args()
