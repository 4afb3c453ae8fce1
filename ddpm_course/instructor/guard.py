"""Grading integrity, inside the grading kernel: a patched checker never earns points.

Autograding runs a student's notebook and the checks in one Python process, so the student's
code could replace what the checks rely on. `integrity.GuardedExecute` (the parent side) arms
this guard in each grading kernel before the student's first cell, then runs every graded cell
through `graded()`, which:

1. compares what grading relies on with the snapshot taken at arming, and puts back anything
   changed: the course's modules, classes and functions (code, defaults, closures), the modules
   and classes they use (torch, torch.nn, einops, builtins, ...), `sys.modules`, torch's function
   and dispatch mode stacks, its global module hooks, trace and profile functions, threads;
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
import sysconfig
import threading
import types
from pathlib import Path

import ddpm_course
from ddpm_course.checking import CheckFailure

MIME = "application/vnd.ddpm-course.verdict+json"
# The roles of a lesson's modules that hold its answers (see ddpm_course/structure of a lesson).
SECRET_ROLES = ("reference", "hidden", "standins", "closed_forms", "bugs")
# Third-party namespaces whose contents the checks use; only the names they held at arming count.
THIRD_PARTY = ("torch", "einops", "fancy_einsum", "math", "functools", "contextlib", "contextvars",
               "builtins", "numpy", "importlib", "traceback", "copy", "operator")
ALWAYS = ("torch", "torch.nn", "torch.nn.functional", "torch.overrides", "torch.testing", "torch.nn.init",
          "torch.nn.modules.module", "einops", "builtins", "math")
# What the kernel itself swaps around every execution (ipykernel forwards input() per request).
VOLATILE = {"builtins.input"}
# Caches that copy/pickle write into classes (copyreg caches __slotnames__ on first deepcopy).
CACHES = {"__slotnames__"}
# IPython's ways to rewrite or run a cell, or to show (or not) its error: a change could hide a failure.
SHELL_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
SHELL_HOOKS = ("custom_exceptions", "CustomTB", "InteractiveTB", "displayhook", "display_pub", "compile", "run_cell",
               "run_cell_async", "run_ast_nodes", "run_code", "transform_cell", "showtraceback", "_showtraceback",
               "showsyntaxerror", "should_run_async")
# Introspection no correct answer needs, and every attack on the guard itself does.
SUSPECT_EVENTS = ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
                  "sys.settrace", "sys.setprofile", "sys.addaudithook")
_COURSE_DIR = str(Path(ddpm_course.__file__).parent)
_LIBRARY_DIRS = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")})


class GradingIntegrityError(CheckFailure):
    """A graded cell scores 0 because the notebook changed what grading relies on."""


def _library_wrapper(new: object, old: object) -> bool:
    """A library's own wrapper around the original, e.g. torch._dynamo wrapping torch.manual_seed when it
    is first imported: it calls the original, so nothing a check relies on changes."""
    code = getattr(new, "__code__", None)
    return (old is not _MISSING and getattr(new, "__wrapped__", None) is old and code is not None
            and code.co_filename.startswith(_LIBRARY_DIRS))


def _library_thread(thread: threading.Thread) -> bool:
    """A thread that runs only library code (ipykernel's output flushing, tqdm's monitor): everything it
    will run, its target, a Timer's function and its run method, is code from the libraries' folders."""
    parts = [getattr(thread, "_target", None), getattr(thread, "function", None), type(thread).run]
    return all(getattr(getattr(part, "__code__", None), "co_filename", "").startswith(_LIBRARY_DIRS)
               for part in parts if part is not None)


def _is_module(name: str, value: object, parent: str) -> bool:
    """A submodule being attached to its package by the import system, not a patch."""
    return isinstance(value, types.ModuleType) and value.__name__ == f"{parent}.{name}"


class _Watched(types.ModuleType):
    """A watched module: every attribute written or deleted is recorded as it happens."""

    def __setattr__(self, name: str, value: object) -> None:
        benign = (_is_module(name, value, self.__name__) or f"{self.__name__}.{name}" in VOLATILE
                  or _library_wrapper(value, vars(self).get(name, _MISSING)))
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
        if _guard is None or not _guard.student_asks(sys._getframe(1)):
            return getattr(_guard.real[self.__name__], name)
        _guard.saw(f"the notebook read {self.__name__}.{name}: it holds the answers")
        raise AttributeError(f"{self.__name__} holds the answers: it cannot be used while grading")


class Guard:
    """What grading relies on, as it was at arming, and what has changed since."""

    def __init__(self, lesson: str | None, shell) -> None:
        self.key = secrets.token_bytes(32)
        self.events: list[str] = []
        self.tainted: list[str] = []
        self.busy = True
        self.real: dict[str, types.ModuleType] = {}
        course = self._import_course()
        self._hide_answers(lesson)
        third = {name for module in course for name in self._used_by(module)} | set(ALWAYS)
        self.modules = course + [sys.modules[n] for n in sorted(third) if n in sys.modules]
        self.module_state = {m.__name__: (m, dict(vars(m))) for m in self.modules}
        classes = [v for m in course for v in vars(m).values()
                   if isinstance(v, type) and getattr(v, "__module__", "").startswith("ddpm_course")]
        classes += [*self._torch_classes(), *{type(shell), *type(shell).__mro__[:2]}]
        self.shell = shell
        self.shell_state = self._shell_state()
        self.classes = {id(c): (c, dict(vars(c))) for c in classes}
        functions = [f for m in course for f in vars(m).values() if self._course_function(f)]
        functions += [f for c, _ in self.classes.values() for v in vars(c).values() for f in self._unwrap(v)
                      if self._course_function(f)]
        self.functions = {id(f): (f, self._function_state(f)) for f in functions}
        self.course_codes = {id(code) for code in self._course_codes(course)}
        self.sys_modules = {name: sys.modules[name] for name in [*self.module_state, *self.real]}
        import torch
        self.torch = torch
        self.hooks = {name: len(value) for name, value in vars(sys.modules["torch.nn.modules.module"]).items()
                      if name.startswith("_global_") and isinstance(value, dict)}
        self.modes = self._modes()
        self.tracing = (sys.gettrace(), sys.getprofile())
        self.threads = set(threading.enumerate())
        for module in self.modules:
            if type(module) is types.ModuleType:
                module.__class__ = _Watched

    # -- arming ---------------------------------------------------------------------------
    @staticmethod
    def _import_course() -> list[types.ModuleType]:
        """Import every module of the course a check could use, before any student code runs."""
        for info in pkgutil.walk_packages(ddpm_course.__path__, "ddpm_course."):
            if not info.name.startswith("ddpm_course.instructor"):
                importlib.import_module(info.name)
        return [m for name, m in sorted(sys.modules.items())
                if name.startswith("ddpm_course") and not name.startswith("ddpm_course.instructor")
                and isinstance(m, types.ModuleType)]

    def _hide_answers(self, lesson: str | None) -> None:
        """Put decoys in place of the lesson's answer modules, in sys.modules and their package."""
        for role in SECRET_ROLES if lesson else ():
            name = f"ddpm_course.{lesson}.{role}"
            if name not in sys.modules:
                continue
            real = self.real[name] = sys.modules[name]
            decoy = _Decoy(name, real.__doc__)
            for dunder in ("__spec__", "__file__", "__cached__", "__loader__", "__package__"):
                setattr(decoy, dunder, getattr(real, dunder, None))
            sys.modules[name] = decoy
            setattr(sys.modules[f"ddpm_course.{lesson}"], role, decoy)

    @staticmethod
    def _used_by(module: types.ModuleType) -> set[str]:
        """The third-party modules a course module uses: those it imported, or took names from."""
        names = set()
        for value in vars(module).values():
            name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(name, str) and name.split(".")[0] in THIRD_PARTY:
                names.add(name)
        return names

    @staticmethod
    def _torch_classes() -> list[type]:
        import torch
        return [torch.Tensor, *(v for v in vars(torch.nn).values() if isinstance(v, type))]

    @staticmethod
    def _course_function(value: object) -> bool:
        return isinstance(value, types.FunctionType) and str(value.__module__).startswith("ddpm_course")

    @staticmethod
    def _unwrap(value: object) -> list[object]:
        if isinstance(value, (staticmethod, classmethod)):
            return [value.__func__]
        if isinstance(value, property):
            return [value.fget, value.fset, value.fdel]
        return [value]

    @staticmethod
    def _function_state(f: types.FunctionType) -> tuple:
        """What a function does: its code, defaults, closure contents and attributes."""
        cells = tuple(c.cell_contents if _has(c) else _MISSING for c in f.__closure__ or ())
        return f.__code__, f.__defaults__, f.__kwdefaults__, cells, dict(f.__dict__)

    @staticmethod
    def _course_codes(course: list[types.ModuleType]) -> list[types.CodeType]:
        """Every code object of the course's functions, methods, decorated and nested functions: what
        runs as the course's own code. Found from the modules, never trusted by file name."""
        seen: set[int] = set()
        codes: list[types.CodeType] = []
        todo: list[object] = [v for m in course for v in vars(m).values()]
        while todo:
            value = todo.pop()
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, types.CodeType):
                if value.co_filename.startswith(_COURSE_DIR):
                    codes.append(value)
                    todo += [c for c in value.co_consts if isinstance(c, types.CodeType)]
            elif isinstance(value, types.FunctionType):
                todo += [value.__code__, *value.__dict__.values(),
                         *(c.cell_contents for c in value.__closure__ or () if _has(c))]
            elif isinstance(value, (staticmethod, classmethod)):
                todo.append(value.__func__)
            elif isinstance(value, property):
                todo += [value.fget, value.fset, value.fdel]
            elif isinstance(value, type) and value.__module__.startswith("ddpm_course"):
                todo += list(vars(value).values())
        return codes

    def _shell_state(self) -> dict[str, object]:
        """IPython's transformers (their contents) and hooks (a bound method by its function)."""
        state: dict[str, object] = {name: list(getattr(self.shell, name)) for name in SHELL_LISTS}
        for name in SHELL_HOOKS:
            value = getattr(self.shell, name, _MISSING)
            state[name] = value.__func__ if isinstance(value, types.MethodType) else value
        return state

    def _modes(self) -> tuple[int, int]:
        return self.torch._C._len_torch_function_stack(), self.torch._C._len_torch_dispatch_stack()

    # -- while the student's code runs -----------------------------------------------------------
    def saw(self, what: str) -> None:
        if not self.busy and what not in self.events:
            self.events.append(what)

    def student_asks(self, frame: types.FrameType | None) -> bool:
        """Whether the code asking is the student's: the nearest frame outside the standard library
        and site-packages is not one of the course's own functions (known by code object, not file name)."""
        while frame is not None:
            if id(frame.f_code) in self.course_codes:
                return False
            name = frame.f_code.co_filename
            if not (name.startswith("<frozen") or name.startswith(_LIBRARY_DIRS)):
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
            if id(target) in self.classes or id(target) in self.functions:
                self.saw(f"{getattr(target, '__qualname__', target)}.{args[1]} was changed")
        elif event in SUSPECT_EVENTS or event.startswith("ctypes."):
            self.saw(f"the notebook called {event}")
        elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            if self._answer_file(os.fsdecode(args[0])) and self.student_asks(sys._getframe(1)):
                self.saw(f"the notebook opened {Path(args[0]).name}: it holds the answers")

    def _answer_file(self, path: str) -> bool:
        """A file that holds answers: an answer module's source or bytecode, a solution notebook, the gradebook."""
        p = Path(os.path.abspath(path))
        for module in self.real.values():
            source = Path(module.__file__)
            if p.parent in (source.parent, source.parent / "__pycache__") and p.name.split(".")[0] == source.stem:
                return True
        return "solutions" in p.parts or p.name == "gradebook.db"

    # -- at each graded cell --------------------------------------------------------------------
    def inspect(self) -> list[str]:
        """Everything changed since arming, put back as it was; plus what was recorded meanwhile."""
        changed = [*self.events]
        self.events.clear()
        for name, (module, state) in self.module_state.items():
            now = vars(module)
            for key, value in state.items():
                if now.get(key, _MISSING) is value or f"{name}.{key}" in VOLATILE:
                    continue
                if _library_wrapper(now.get(key, _MISSING), value):
                    state[key] = now[key]
                else:
                    changed.append(f"{name}.{key} was replaced")
                    now[key] = value
            for key in [k for k in now if k not in state and not k.startswith("__")
                        and not _is_module(k, now[k], name)]:
                changed.append(f"{name}.{key} was added")
                del now[key]
        for cls, state in self.classes.values():
            now = dict(vars(cls))
            for key in (set(now) | set(state)) - CACHES:
                if now.get(key, _MISSING) is not state.get(key, _MISSING):
                    changed.append(f"{cls.__qualname__}.{key} was changed")
                    if key in state:
                        setattr(cls, key, state[key])
                    else:
                        delattr(cls, key)
        for f, state in self.functions.values():
            now = self._function_state(f)
            if not _same(now, state):
                changed.append(f"{f.__module__}.{f.__qualname__} was changed")
                f.__code__, f.__defaults__, f.__kwdefaults__ = state[:3]
                for cell, contents in zip(f.__closure__ or (), state[3]):
                    if contents is not _MISSING:
                        cell.cell_contents = contents
                f.__dict__.clear()
                f.__dict__.update(state[4])
        for name, module in self.sys_modules.items():
            if sys.modules.get(name) is not module:
                changed.append(f"sys.modules[{name!r}] was replaced")
                sys.modules[name] = module
        for name, now in self._shell_state().items():
            kept = self.shell_state[name]
            if isinstance(kept, list):
                if len(now) != len(kept) or any(a is not b for a, b in zip(now, kept)):
                    changed.append(f"IPython's {name} was changed")
                    getattr(self.shell, name)[:] = kept
            elif now is not kept:
                changed.append(f"IPython's {name} was replaced")
                vars(self.shell).pop(name, None)
                if self._shell_state()[name] is not kept:
                    setattr(self.shell, name, kept)
        module_hooks = vars(sys.modules["torch.nn.modules.module"])
        changed += [f"a global torch.nn hook was registered ({name})" for name, n in self.hooks.items()
                    if len(module_hooks[name]) != n]
        if self._modes() != self.modes:
            changed.append("a torch function or dispatch mode was left active")
        if (sys.gettrace(), sys.getprofile()) != self.tracing:
            changed.append("a trace or profile function was set")
            sys.settrace(self.tracing[0])
            sys.setprofile(self.tracing[1])
        changed += [f"the notebook left a thread running ({t.name})" for t in threading.enumerate()
                    if t not in self.threads and t.is_alive() and not _library_thread(t)]
        return changed

    def sign(self, grade_id: str, source: str, verdict: str) -> str:
        return sign(self.key, grade_id, source, verdict)


def _same(now: tuple, then: tuple) -> bool:
    """Function states compared by identity, part by part."""
    code, defaults, kwdefaults, cells, attributes = now
    return (code is then[0] and defaults is then[1] and kwdefaults is then[2] and len(cells) == len(then[3])
            and all(a is b for a, b in zip(cells, then[3])) and attributes.keys() == then[4].keys()
            and all(attributes[k] is then[4][k] for k in attributes))


def _has(cell) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # an empty cell: a name assigned later in the enclosing function
        return False
    return True


_MISSING = object()
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
