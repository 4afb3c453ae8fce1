"""Grading integrity, inside the grading kernel: a patched checker never earns points.

Autograding runs a student's notebook and the checks in one Python process, so the student's
code could replace what the checks rely on. `integrity.GuardedExecute` (the parent side) arms
this guard in each grading kernel before the student's first cell, then runs every graded cell
through `graded()`, which:

1. compares what grading relies on with the snapshot taken at arming (snapshot.py: the course's
   modules, classes and functions, the torch, einops and builtins they use, `sys.modules`, IPython's
   hooks, torch's modes and global hooks, tracers, threads), and puts back anything changed;
2. runs the cell's checks, visible and hidden, and compares again (a patch made while the
   student's code runs inside a check is caught too, and so is one made and undone in between:
   writes to watched modules, classes and functions are recorded as they happen);
3. sends the parent a verdict for the cell, signed with a key made at arming. The parent scores
   a cell only on a valid "pass" verdict: suppressing errors, silencing output or forging a
   verdict can only fail a cell.

Any change scores the cell, and every graded cell after it, 0 with a `GradingIntegrityError`
saying what changed. Reading the current lesson's answers is refused and counts the same: its
reference, hidden checks, stand-ins and closed forms are replaced in `sys.modules` by decoys
that only the course's own code may read, and opening their files is recorded. Student code
that uses the introspection a targeted attack needs (gc.get_objects, ctypes, sys._current_frames,
trace functions) is recorded too. See README, "Security", for what this does not stop.
"""
from __future__ import annotations

import builtins
import hashlib
import hmac
import importlib
import linecache
import os
import pkgutil
import secrets
import sys
import types
from pathlib import Path

from ddpm_course.checking import CheckFailure
from ddpm_course.instructor import course, roles
from ddpm_course.instructor.grading.snapshot import (COURSE_DIR, LIBRARY_DIRS, MISSING, VOLATILE, Snapshot, is_module,
                                                     library_wrapper)

MIME = "application/vnd.ddpm-course.verdict+json"
# Introspection no correct answer needs, and every attack on the guard itself does.
SUSPECT_EVENTS = ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
                  "sys.settrace", "sys.setprofile", "sys.addaudithook")


class GradingIntegrityError(CheckFailure):
    """A graded cell scores 0 because the notebook changed what grading relies on."""


class _Watched(types.ModuleType):
    """A watched module: every attribute written or deleted is recorded as it happens."""

    def __setattr__(self, name: str, value: object) -> None:
        benign = (is_module(name, value, self.__name__) or f"{self.__name__}.{name}" in VOLATILE
                  or library_wrapper(value, vars(self).get(name, MISSING)))
        if _guard is not None and not benign:
            _guard.saw(f"{self.__name__}.{name} was assigned")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if _guard is not None:
            _guard.saw(f"{self.__name__}.{name} was deleted")
        super().__delattr__(name)


class _Decoy(types.ModuleType):
    """Stands in sys.modules for a module holding the lesson's answers: the course's own code
    reads it as usual; anything else reading it is refused and recorded."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name != "__all__":  # module machinery, e.g. inspect.getmodule
            raise AttributeError(name)
        if _guard is None:
            raise AttributeError(name)
        if self.__name__ in _guard.real and not _guard.student_asks(sys._getframe(1)):
            return getattr(_guard.real[self.__name__], name)
        _guard.saw(f"the notebook read {self.__name__}.{name}: it holds the answers")
        raise AttributeError(f"{self.__name__} holds the answers: it cannot be used while grading")


class Guard:
    """The snapshot, what was recorded since the last graded cell, and the verdict key."""

    def __init__(self, lesson: str | None, shell) -> None:
        self.key = secrets.token_bytes(32)
        self.events: list[str] = []
        self.tainted: list[str] = []
        self.busy = True
        self.real: dict[str, types.ModuleType] = {}
        self.answer_files: list[Path] = []
        course = self._import_course(lesson)
        self._hide_answers(lesson)
        self.snapshot = Snapshot(course, shell, [n for n, m in sys.modules.items() if isinstance(m, _Decoy)])
        for module in self.snapshot.modules:
            if type(module) is types.ModuleType:
                module.__class__ = _Watched

    @staticmethod
    def _import_course(lesson: str | None) -> list[types.ModuleType]:
        """Import every module a check of this lesson could use, before any student code runs: the modules
        of the lesson and of those before it (later lessons' checks build on earlier ones, never the
        reverse), and the course modules they import. Not the grading tools (progress, pytest_grading):
        they import nbformat and pytest, seconds of work no check needs."""
        for name in course.lessons_up_to(lesson) if lesson in course.LESSONS else course.lessons():
            package = importlib.import_module(f"ddpm_course.{name}")
            for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
                importlib.import_module(info.name)
        return [m for name, m in sorted(sys.modules.items())
                if name.startswith("ddpm_course") and not name.startswith("ddpm_course.instructor")
                and isinstance(m, types.ModuleType)]

    def _hide_answers(self, lesson: str | None) -> None:
        """Put decoys in place of the answer modules of this lesson and of every later one (their references
        re-export this lesson's answers: lesson 2's holds lesson 1's SelfAttention), in sys.modules and
        their packages. Which modules hold answers, the role table says. Later lessons' modules are not
        imported: their decoys serve nobody."""
        later = course.lessons_from(lesson) if lesson in course.LESSONS else []
        for name, path in [(f"ddpm_course.{each}.{role}", Path(COURSE_DIR) / each / f"{role}.py")
                           for each in later for role in roles.answer_modules()]:
            if not path.is_file():
                continue
            self.answer_files.append(path)
            decoy = _Decoy(name)
            real = sys.modules.get(name)
            if real is not None:
                self.real[name] = real
                for dunder in ("__spec__", "__file__", "__cached__", "__loader__", "__package__"):
                    setattr(decoy, dunder, getattr(real, dunder, None))
            sys.modules[name] = decoy
            package = sys.modules.get(name.rsplit(".", 1)[0])
            if package is not None:
                setattr(package, name.rsplit(".", 1)[1], decoy)

    # -- while the student's code runs -----------------------------------------------------------
    def saw(self, what: str) -> None:
        if not self.busy and what not in self.events:
            self.events.append(what)

    def student_asks(self, frame: types.FrameType | None) -> bool:
        """Whether the code asking is the student's: the nearest frame outside the standard library
        and site-packages is not one of the course's own functions (known by code object, not file name)."""
        while frame is not None:
            if id(frame.f_code) in self.snapshot.course_codes:
                return False
            name = frame.f_code.co_filename
            if not (name.startswith("<frozen") or name.startswith(LIBRARY_DIRS)):
                return True
            frame = frame.f_back
        return False

    def audit(self, event: str, args: tuple) -> None:
        """sys.addaudithook: record writes to watched classes and functions, reads of answer files,
        and introspection, as they happen."""
        if self.busy:
            return
        if event in ("object.__setattr__", "object.__delattr__"):
            target = args[0]
            if id(target) in self.snapshot.classes or id(target) in self.snapshot.functions:
                self.saw(f"{getattr(target, '__qualname__', target)}.{args[1]} was changed")
        elif event in SUSPECT_EVENTS or event.startswith("ctypes."):
            self.saw(f"the notebook called {event}")
        elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            if self._answer_file(os.fsdecode(args[0])) and self.student_asks(sys._getframe(1)):
                self.saw(f"the notebook opened {Path(args[0]).name}: it holds the answers")

    def _answer_file(self, path: str) -> bool:
        """A file that holds answers: an answer module's source or bytecode, a solution notebook, the gradebook."""
        p = Path(os.path.abspath(path))
        for source in self.answer_files:
            if p.parent in (source.parent, source.parent / "__pycache__") and p.name.split(".")[0] == source.stem:
                return True
        # <course root>/solutions/<lesson>/<lesson>.ipynb, or the gradebook, which records every source cell
        return (p.suffix == ".ipynb" and p.parent.parent.name == "solutions") or p.name == "gradebook.db"

    def inspect(self) -> list[str]:
        """What was recorded since the last graded cell, and every change the snapshot finds (and undoes)."""
        recorded, self.events = self.events, []
        return recorded + self.snapshot.inspect()

    def sign(self, grade_id: str, source: str, verdict: str) -> str:
        return sign(self.key, grade_id, source, verdict)


_guard: Guard | None = None


def sign(key: bytes, grade_id: str, source: str, verdict: str) -> str:
    """The verdict's signature: it binds the key, the cell, the exact source that ran, and the verdict."""
    message = f"{grade_id}\n{hashlib.sha256(source.encode()).hexdigest()}\n{verdict}".encode()
    return hmac.new(key, message, "sha256").hexdigest()


def arm(lesson: str | None) -> None:
    """Take the snapshot, start recording, and hand the parent the verdict key (as this cell's output)."""
    global _guard
    from IPython import get_ipython
    shell = get_ipython()
    guard = Guard(lesson, shell)
    guard.publish = shell.display_pub.publish
    guard.user_ns = shell.user_ns
    guard.exec = builtins.exec
    _guard = guard
    sys.addaudithook(guard.audit)
    guard.publish(data={MIME: {"key": guard.key.hex()}}, metadata={})
    guard.busy = False


def graded(grade_id: str, source: str) -> None:
    """Run one graded cell's checks between two inspections; send its signed verdict."""
    __tracebackhide__ = True
    guard = _guard
    tampered = ["the grading guard was switched off"] if guard.busy else []
    guard.busy = True
    changed = tampered + guard.inspect()
    guard.busy = False
    passed = False
    filename = f"<graded cell {grade_id}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        guard.exec(compile(source, filename, "exec"), guard.user_ns)
        passed = True
    finally:
        guard.busy = True
        changed += guard.inspect()
        if changed and not guard.tainted:
            guard.tainted = [*changed[:3], f"first seen at {grade_id}"]
        verdict = "pass" if passed and not guard.tainted else "fail"
        guard.publish(data={MIME: {"grade_id": grade_id, "verdict": verdict,
                                   "mac": guard.sign(grade_id, source, verdict)}}, metadata={})
        guard.busy = False
        if guard.tainted:
            raise GradingIntegrityError(
                "this graded cell scores 0: the notebook changed what grading relies on ("
                + "; ".join(guard.tainted) + "). Grading compares your code with the course's own; "
                "every graded cell from there on scores 0.") from None
