"""`make bench-grading [N=8] [LESSON=name]`: how many notebooks per minute does autograding manage?

    python -m ddpm_course.instructor.qa.bench_grading [-n 8] [--lesson l1_blocks] [--jobs 1 4] [--guard both]

Builds a synthetic class of N submissions of one lesson (by default the first), a mix of
correct, buggy (the bank's known bugs in turn), untouched stubs and broken notebooks (an
import that fails), then autogrades the same class once per worker count (default: 1 and
the number of cores) in a fresh course folder, and prints wall time and notebooks per
minute, start-up included (worker start, gradebook, feedback, reports): what an instructor waits.
`--guard both` grades each class twice in a row, without and with the integrity guard: what it costs.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.grading import grade
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


def bench(lesson: str, n: int, jobs: int, guard: bool = True) -> tuple[float, list]:
    """Seconds to autograde a fresh synthetic class of n notebooks with `jobs` workers, and the records."""
    with tempfile.TemporaryDirectory(prefix="ddpm-bench-") as tmp:
        root = Path(tmp)
        synthetic_class(root, lesson, n)
        start = time.perf_counter()
        records = grade.autograde(root, jobs=jobs, guard=guard)
        return time.perf_counter() - start, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=8, help="notebooks in the synthetic class (default: 8)")
    parser.add_argument("--lesson", choices=course.lessons(), default=course.lessons()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=sorted({1, grade.cores()}),
                        help=f"worker counts to compare (default: 1 and the cores, {grade.cores()})")
    parser.add_argument("--guard", choices=("on", "off", "both"), default="on",
                        help="the integrity guard: on (as graded), off, or both, one after the other")
    args = parser.parse_args()
    guards = {"on": [True], "off": [False], "both": [False, True]}[args.guard]
    print(f"autograding {args.n} synthetic {args.lesson} notebooks (correct, buggy, stub, broken) "
          f"on {grade.cores()} cores")
    for jobs in args.jobs:
        for guard in guards:
            seconds, records = bench(args.lesson, args.n, jobs, guard)
            scores = " ".join(f"{r.score:g}" for r in sorted(records, key=lambda r: r.student))
            print(f"jobs={jobs} guard {'on ' if guard else 'off'}: {seconds:6.1f} s, "
                  f"{60 * args.n / seconds:5.1f} notebooks/minute  (scores: {scores})", flush=True)


if __name__ == "__main__":
    main()
