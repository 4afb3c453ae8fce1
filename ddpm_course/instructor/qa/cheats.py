"""The cheat bank: code a student could hand in to earn points without the answers, aimed at how grading works
now (README, "Security"): the notebook runs in a sandboxed executor that holds nothing secret, and every check
runs in a checker process of its own, on values.

Each cheat is a cell added after the answer cell of a lesson's first known bug (bank.submission with BUGS[0]),
from where it tries to make that buggy exercise pass: by stealing the answer (files, modules, the network, the
gradebook, the grader's memory), by patching what the checks use, or by forging what comes back to them. Graded
through the real grading (tests/test_cheats.py), a cheating notebook must score no more than the buggy notebook
alone, show no line of an answer in its outputs, and leave the course and the gradebook as they were. Cheats
share a notebook, since any one that worked would make the bug's cell pass (`_take` installs only what a cheat
stole); those that end, stall or starve the kernel get a notebook of their own. The list is cheat_list.py.

    python -m ddpm_course.instructor.qa.cheats   # grade every cheating notebook here, print each score
"""
from __future__ import annotations

import base64
import contextlib
import importlib
import io
import re
from dataclasses import dataclass

import nbformat

from ddpm_course.instructor import course
from ddpm_course.instructor.qa import bank

TAG = "added"  # tags the cells a cheat or an honest habit adds


@dataclass(frozen=True)
class Cheat:
    """A cell that cheats. `code` is formatted with the names of Context.fields(); `lessons`: the lessons it
    applies to (all when empty); `alone`: the name of its own notebook, for a cheat that would hide what others
    do (it ends, stalls or starves the kernel, cuts the checks off, or replaces the exercise itself)."""
    name: str
    code: str
    lessons: tuple[str, ...] = ()
    alone: str = ""

    def applies(self, lesson: str) -> bool:
        return not self.lessons or lesson in self.lessons


@dataclass(frozen=True)
class Context:
    """What a cheat is written against: the lesson, the exercise its first bug breaks (the subject), the check
    functions the lesson calls, and where the answers sit on the grading machine."""
    lesson: str
    subject: str
    checks: tuple[str, ...]

    @classmethod
    def of(cls, lesson: str) -> Context:
        bug = bank.bank(lesson).BUGS[0]
        tests = [c for c in course.solution(lesson).cells if course.is_graded_test(c)]
        source = next(c.source for c in tests if course.grade_id(c) == bug.fails)
        called = re.search(r"checks\.\w+\(([^)]*)\)", source).group(1).replace(" ", "").split(",")
        answer = next(c.source for c in course.solution(lesson).cells if course.grade_id(c) == bug.cell)
        # the name whose definition (def or class, up to the next one) holds the bug's edit
        blocks = re.split(r"\n(?=(?:def|class) )", answer)
        subject = next(name for name in called for block in blocks
                       if re.match(rf"(?:def|class) {name}\b", block) and bug.edits[0][0] in block)
        names = sorted({name for c in tests for name in re.findall(r"checks\.(\w+)\(", c.source)})
        return cls(lesson, subject, tuple(names))

    def fields(self) -> dict[str, str]:
        later = course.lessons_from(self.lesson)[1:]
        return {"lesson": self.lesson, "subject": self.subject, "checks": repr(list(self.checks)),
                "root": str(course.ROOT), "package": str(course.PACKAGE),
                "reference": str(course.reference_path(self.lesson)),
                "solution": str(course.solution_path(self.lesson)),
                "later": later[0] if later else self.lesson}


# Defined first in every cheating notebook: runs a theft, and installs what it stole as the buggy exercise only
# if it has it, so that no failed theft changes the notebook and any successful one shows in the score.
TAKE = '''\
def _take(name, steal):
    try:
        found = steal()
        if isinstance(found, (str, bytes)):
            space = {{"__name__": "stolen"}}
            exec(found, space)
            found = space
        found = vars(found) if not isinstance(found, dict) and hasattr(found, "__dict__") else found
        if isinstance(found, dict) and "{subject}" in found:
            globals()["{subject}"] = found["{subject}"]
            print(f"{{name}}: took {subject}")
        else:
            print(f"{{name}}: found nothing")
    except BaseException as err:
        print(f"{{name}}: {{type(err).__name__}}")'''

# Outputs pasted from the reference: the student ran it on the visible checks' inputs and replays the outputs,
# keyed by a hash of the inputs. The hidden cases, with inputs of their own, fail it. `replayed` records CACHE.
_KEY = """\
import base64, hashlib, io
import torch


def _key(args, kwargs):
    parts = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):  # a tensor on the meta device has a shape but no data
            data = b"" if value.device.type == "meta" else value.detach().contiguous().numpy().tobytes()
            parts.append(str(tuple(value.shape)).encode() + data)
        elif " at 0x" not in repr(value):
            parts.append(repr(value).encode())
    return hashlib.sha256(b"|".join(parts)).hexdigest()
"""
REPLAY = Cheat("outputs pasted from the reference for the visible checks' inputs", _KEY + """
_CACHE = torch.load(io.BytesIO(base64.b64decode("{cache}")), weights_only=True)
_Original = {subject}
if isinstance(_Original, type):
    class {subject}(_Original):
        def forward(self, *args, **kwargs):
            key = _key(args, kwargs)
            return _CACHE[key].clone() if key in _CACHE else super().forward(*args, **kwargs)
else:
    def {subject}(*args, **kwargs):
        key = _key(args, kwargs)
        return _CACHE[key].clone() if key in _CACHE else _Original(*args, **kwargs)""")
_RECORDER = _KEY + """
RECORDED = {}
if isinstance(ORIGINAL, type):
    class RECORDER(ORIGINAL):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            RECORDED[_key(args, kwargs)] = out.detach().clone()
            return out
else:
    def RECORDER(*args, **kwargs):
        out = ORIGINAL(*args, **kwargs)
        RECORDED[_key(args, kwargs)] = out.detach().clone()
        return out
"""


def _added(code: str):
    return nbformat.v4.new_code_cell(code, metadata={"tags": [TAG]})


def cheating(lesson: str, cheats: list[Cheat]):
    """The lesson's first-bug submission with the cheats in cells after the buggy answer, `_take` first."""
    context = Context.of(lesson)
    bug = bank.bank(lesson).BUGS[0]
    notebook = bank.submission(lesson, bug)
    fields = context.fields()
    cells = [_added(TAKE.format(**fields))] + [_added(c.code.format(**fields) if c is not REPLAY
                                                      else c.code.replace("{subject}", context.subject))
                                               for c in cheats]
    at = next(i for i, c in enumerate(notebook.cells) if course.grade_id(c) == bug.cell) + 1
    notebook.cells[at:at] = cells
    return notebook


def replay(lesson: str) -> Cheat:
    """REPLAY, its cache recorded from the reference on the visible check of the lesson's first bug."""
    import torch

    context = Context.of(lesson)
    bug = bank.bank(lesson).BUGS[0]
    reference = importlib.import_module(f"ddpm_course.{lesson}.reference")
    recorder: dict = {"ORIGINAL": getattr(reference, context.subject)}
    exec(_RECORDER, recorder)  # in a namespace of its own: checks may swap names in a function's globals
    namespace = {**vars(reference), context.subject: recorder["RECORDER"]}
    source = next(c.source for c in course.solution(lesson).cells if course.grade_id(c) == bug.fails)
    with contextlib.redirect_stdout(io.StringIO()):  # the check's own "passed" line
        exec(bank.split_test_cell(source)[0], namespace)
    buffer = io.BytesIO()
    torch.save(recorder["RECORDED"], buffer)
    cache = base64.b64encode(buffer.getvalue()).decode()
    return Cheat(REPLAY.name, REPLAY.code.replace("{cache}", cache))


# The lessons whose notebooks the bank cheats in: the first, and the first with closed forms and fakes, whose
# answers a cheat could look for in more modules. Every cheat aims at what grading does, which is the same for
# every lesson; each lesson's notebook costs a grading, and `make test` has a time budget.
CHEATED = (course.lessons()[0], course.lessons()[2])


def notebooks(lessons: list[str] | None = None) -> dict[str, tuple[str, list[str], object]]:
    """Every cheating notebook: name -> (lesson, the names of its cheats, the notebook). Per lesson (CHEATED by
    default), one notebook of every cheat that shares (the replayed outputs first: a theft after them would still
    show), and one per cheat that must be alone."""
    from ddpm_course.instructor.qa.cheat_list import CHEATS

    found = {}
    for lesson in lessons or CHEATED:
        shared = [replay(lesson)] + [c for c in CHEATS if c.applies(lesson) and not c.alone]
        found[f"{lesson}-shared"] = (lesson, [c.name for c in shared], cheating(lesson, shared))
        for group in dict.fromkeys(c.alone for c in CHEATS if c.applies(lesson) and c.alone):
            alone = [c for c in CHEATS if c.applies(lesson) and c.alone == group]
            found[f"{lesson}-{group}"] = (lesson, [c.name for c in alone], cheating(lesson, alone))
    return found


def baseline(lesson: str) -> float:
    """The score of the first-bug submission without any cheat: what every cheating notebook may score at most."""
    points = course.points(lesson)
    return sum(points.values()) - points[bank.bank(lesson).BUGS[0].fails]


def main() -> None:
    from ddpm_course.instructor.grading import grade

    found = notebooks()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, (lesson, _, notebook) in found.items():
            path = Path(tmp) / name / f"{lesson}.ipynb"
            path.parent.mkdir()
            nbformat.write(notebook, path)
            paths.append((lesson, path))
        records = grade.grade_apart(paths, timeout=30)
    for (name, (lesson, cheats, _)), record in zip(found.items(), records):
        verdict = "ok" if record.score <= baseline(lesson) else "EARNED POINTS"
        print(f"{name:24} {record.score:g}/{record.max_score:g} (without the cheats {baseline(lesson):g})  "
              f"{verdict}  {len(cheats)} cheat{'s' * (len(cheats) != 1)}")


if __name__ == "__main__":
    main()
