"""What grading relies on, as it was when the integrity guard was armed, and what has changed since.

The guard (guard.py) takes a `Snapshot` in the grading kernel before any student code runs, and calls
`inspect()` before and after every graded cell: it lists each change and puts it back. Watched: the
course's modules, classes and functions (code, defaults, closure contents, attributes), the modules
and classes they use (torch, torch.nn, einops, builtins, ...), `sys.modules`, IPython's transformers
and hooks, torch's function and dispatch mode stacks and global module hooks, trace and profile
functions, and threads. Objects are compared by identity, never by value or by name.
"""
from __future__ import annotations

import sys
import sysconfig
import threading
import types
from pathlib import Path

import ddpm_course

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
COURSE_DIR = str(Path(ddpm_course.__file__).parent)
LIBRARY_DIRS = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")})
MISSING = object()


def library_wrapper(new: object, old: object) -> bool:
    """A library's own wrapper around the original, e.g. torch._dynamo wrapping torch.manual_seed when it
    is first imported: it calls the original, so nothing a check relies on changes."""
    code = getattr(new, "__code__", None)
    return (old is not MISSING and getattr(new, "__wrapped__", None) is old and code is not None
            and code.co_filename.startswith(LIBRARY_DIRS))


def library_thread(thread: threading.Thread) -> bool:
    """A thread that runs only library code (ipykernel's output flushing, tqdm's monitor): everything it
    will run, its target, a Timer's function and its run method, is code from the libraries' folders."""
    parts = [getattr(thread, "_target", None), getattr(thread, "function", None), type(thread).run]
    return all(getattr(getattr(part, "__code__", None), "co_filename", "").startswith(LIBRARY_DIRS)
               for part in parts if part is not None)


def is_module(name: str, value: object, parent: str) -> bool:
    """A submodule being attached to its package by the import system, not a patch."""
    return isinstance(value, types.ModuleType) and value.__name__ == f"{parent}.{name}"


class Snapshot:
    """The state of everything watched, taken at construction; `inspect()` reports and undoes changes."""

    def __init__(self, course: list[types.ModuleType], shell, hidden: list[str]) -> None:
        """course: the course's modules (answer modules included); hidden: names whose sys.modules entry
        (a decoy) must stay as it is."""
        import torch
        self.torch, self.shell = torch, shell
        third = {name for module in course for name in self._used_by(module)} | set(ALWAYS)
        self.modules = course + [sys.modules[n] for n in sorted(third) if n in sys.modules]
        self.module_state = {m.__name__: (m, dict(vars(m))) for m in self.modules}
        classes = [v for m in course for v in vars(m).values()
                   if isinstance(v, type) and getattr(v, "__module__", "").startswith("ddpm_course")]
        classes += [*self._torch_classes(), *{type(shell), *type(shell).__mro__[:2]}]
        self.classes = {id(c): (c, dict(vars(c))) for c in classes}
        functions, codes = self._course_code(course)
        self.functions = {id(f): (f, self._function_state(f)) for f in functions}
        self.course_codes = {id(code) for code in codes}
        self.sys_modules = {name: sys.modules[name] for name in [*self.module_state, *hidden]}
        self.shell_state = self._shell_state()
        self.hooks = {name: len(value) for name, value in vars(sys.modules["torch.nn.modules.module"]).items()
                      if name.startswith("_global_") and isinstance(value, dict)}
        self.modes = self._modes()
        self.tracing = (sys.gettrace(), sys.getprofile())
        self.threads = set(threading.enumerate())

    @staticmethod
    def _used_by(module: types.ModuleType) -> set[str]:
        """The third-party modules a course module uses: those it imported, or took names from."""
        names = set()
        for value in vars(module).values():
            name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(name, str) and name.split(".")[0] in THIRD_PARTY:
                names.add(name)
        return names

    def _torch_classes(self) -> list[type]:
        return [self.torch.Tensor, *(v for v in vars(self.torch.nn).values() if isinstance(v, type))]

    @staticmethod
    def _function_state(f: types.FunctionType) -> tuple:
        """What a function does: its code, defaults, closure contents and attributes."""
        cells = tuple(c.cell_contents if _has(c) else MISSING for c in f.__closure__ or ())
        return f.__code__, f.__defaults__, f.__kwdefaults__, cells, dict(f.__dict__)

    @staticmethod
    def _course_code(course: list[types.ModuleType]) -> tuple[list[types.FunctionType], list[types.CodeType]]:
        """Every function of the course (module-level, methods, decorated and the functions decorators wrap,
        closures') and every code object they run, nested ones included: what runs as the course's own
        code. Found from the modules, never trusted by file name."""
        seen: set[int] = set()
        functions: list[types.FunctionType] = []
        codes: list[types.CodeType] = []
        todo: list[object] = [v for m in course for v in vars(m).values()]
        while todo:
            value = todo.pop()
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, types.CodeType):
                if value.co_filename.startswith(COURSE_DIR):
                    codes.append(value)
                    todo += [c for c in value.co_consts if isinstance(c, types.CodeType)]
            elif isinstance(value, types.FunctionType):
                if value.__code__.co_filename.startswith(COURSE_DIR):
                    functions.append(value)
                todo += [value.__code__, *value.__dict__.values(), *(value.__defaults__ or ()),
                         *(c.cell_contents for c in value.__closure__ or () if _has(c))]
            elif isinstance(value, (staticmethod, classmethod)):
                todo.append(value.__func__)
            elif isinstance(value, property):
                todo += [value.fget, value.fset, value.fdel]
            elif isinstance(value, type) and value.__module__.startswith("ddpm_course"):
                todo += list(vars(value).values())
        return functions, codes

    def _shell_state(self) -> dict[str, object]:
        """IPython's transformers (their contents) and hooks (a bound method by its function)."""
        return {**{name: list(getattr(self.shell, name)) for name in SHELL_LISTS},
                **{name: self._hook(name) for name in SHELL_HOOKS}}

    def _hook(self, name: str) -> object:
        value = getattr(self.shell, name, MISSING)
        return value.__func__ if isinstance(value, types.MethodType) else value

    def _modes(self) -> tuple[int, int]:
        return self.torch._C._len_torch_function_stack(), self.torch._C._len_torch_dispatch_stack()

    def inspect(self) -> list[str]:
        """Everything changed since the snapshot, each put back as it was."""
        changed = []
        for name, (module, state) in self.module_state.items():
            now = vars(module)
            for key, value in state.items():
                if now.get(key, MISSING) is value or f"{name}.{key}" in VOLATILE:
                    continue
                if library_wrapper(now.get(key, MISSING), value):
                    state[key] = now[key]
                else:
                    changed.append(f"{name}.{key} was replaced")
                    now[key] = value
            for key in [k for k in now if k not in state and not k.startswith("__")
                        and not is_module(k, now[k], name)]:
                changed.append(f"{name}.{key} was added")
                del now[key]
        for cls, state in self.classes.values():
            now = dict(vars(cls))
            for key in (set(now) | set(state)) - CACHES:
                if now.get(key, MISSING) is not state.get(key, MISSING):
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
                    if contents is not MISSING:
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
                if self._hook(name) is not kept:
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
                    if t not in self.threads and t.is_alive() and not library_thread(t)]
        return changed


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
