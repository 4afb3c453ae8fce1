"""`make bench-grading [N=8] [LESSON=name]`: how many notebooks per minute does autograding manage?

    python -m ddpm_course.instructor.qa.bench_grading [-n 8] [--lesson l1_blocks] [--jobs 1 4]

Builds a synthetic class of N submissions of one lesson (by default the first), a mix of
correct, buggy (the bank's known bugs in turn), untouched stubs and broken notebooks (an
import that fails), then autogrades the same class once per worker count (default: 1 and
the number of cores) in a fresh course folder, and prints wall time and notebooks per
minute, start-up included (worker start, gradebook, feedback, reports): what an instructor waits.
Each notebook runs in the executor sandbox this machine offers (grading/sandbox.py), which it names.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import grade, sandbox
from ddpm_course.instructor.qa import bank


def synthetic_class(root: Path, lesson: str, n: int) -> dict[str, str]:
    """Write n submissions under root/submitted; return student -> kind."""
    bugs = bank.bank(lesson).BUGS
    kinds = {}
    for i in range(n):
        kind = ("correct", "buggy", "stub", "broken")[i % 4]
        if kind == "correct":
            notebook = bank.submission(lesson)
        elif kind == "buggy":
            notebook = bank.submission(lesson, bugs[(i // 4) % len(bugs)])
        elif kind == "stub":
            notebook = course.read(course.release_path(lesson))
        else:
            notebook = bank.submission(lesson)
            first = next(c for c in notebook.cells if course.is_export(c))  # the imports, not the Colab cell
            first.source = "import a_module_that_does_not_exist\n" + first.source
        student = f"student{i:03d}_{kind}"
        path = root / "submitted" / student / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(notebook, path)
        kinds[student] = kind
    return kinds


def bench(lesson: str, n: int, jobs: int) -> tuple[float, list]:
    """Seconds to autograde a fresh synthetic class of n notebooks with `jobs` workers, and the records."""
    with tempfile.TemporaryDirectory(prefix="ddpm-bench-") as tmp:
        root = Path(tmp)
        synthetic_class(root, lesson, n)
        start = time.perf_counter()
        records = grade.autograde(root, jobs=jobs)
        return time.perf_counter() - start, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=8, help="notebooks in the synthetic class (default: 8)")
    parser.add_argument("--lesson", choices=course.lessons(), default=course.lessons()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=sorted({1, grade.cores()}),
                        help=f"worker counts to compare (default: 1 and the cores, {grade.cores()})")
    args = parser.parse_args()
    print(f"autograding {args.n} synthetic {args.lesson} notebooks (correct, buggy, stub, broken) "
          f"on {grade.cores()} cores, executor isolation: {sandbox.isolation()}")
    for jobs in args.jobs:
        seconds, records = bench(args.lesson, args.n, jobs)
        scores = " ".join(f"{r.score:g}" for r in sorted(records, key=lambda r: r.student))
        print(f"jobs={jobs}: {seconds:6.1f} s, {60 * args.n / seconds:5.1f} notebooks/minute  (scores: {scores})",
              flush=True)


if __name__ == "__main__":
    main()
