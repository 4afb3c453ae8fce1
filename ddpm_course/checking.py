"""The check framework every exercise uses.

A check is a function decorated with `@check("Title")`. Inside it, each case runs in
`with case("batch 1, odd spatial size"):`, and values are compared with `expect_close`.
Whatever goes wrong reaches the student as one `CheckFailure` that names the case,
shows expected vs got, and gives one line of hint, never a traceback from inside
the checker. Student exceptions are reported with the line of *their* code that raised.

The framework counts the cases itself, and a check may call another (a hidden check reruns
the visible one on more cases): the inner check's cases count for the outer one, which alone
prints, times and titles.
"""
from __future__ import annotations

import functools
import importlib
import os
import time
import traceback
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

_PACKAGE_DIR = Path(__file__).parent


class CheckFailure(AssertionError):
    """A check failed. The message says which case, expected vs got, and a hint."""


def _warm_meta() -> None:
    """Run one op on the meta device, where the checks run every exercise as on a second device (a GPU): its first
    op imports torch's meta registrations and sympy, a second or more once per process, paid here when the checks
    are imported rather than inside a check's time. (A grading kernel pays it as it starts: grading/sandbox.py.)"""
    torch.empty(1, device="meta").add(1)


_warm_meta()


def _show_check_failures_as_messages() -> None:
    """In IPython/Jupyter, print a CheckFailure as its message alone.

    The traceback frames would only point into the checker, never at the student's bug; the
    cell still ends in an error output, so nbgrader scores it as failed.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((CheckFailure,), lambda self, etype, value, tb, tb_offset=None:
                             self.showtraceback((etype, value, None), tb_offset=tb_offset))


_show_check_failures_as_messages()


def is_checker_frame(filename: str, package_dir: PurePath = _PACKAGE_DIR) -> bool:
    """Whether a traceback frame's file is torch, contextlib or this package, not the student's code.
    By path parts, never by "/": the student bundle runs on Windows too."""
    path = type(package_dir)(filename)
    return "torch" in path.parts or path.name == "contextlib.py" or path.is_relative_to(package_dir)


def _student_frame(err: BaseException) -> str:
    """Where in the student's code an exception was raised: the innermost frame that is
    neither torch nor this package, since that is the line the student must look at. (When grading,
    the student's code runs in another process, which says where itself.)"""
    where = getattr(err, "__ddpm_where__", None)
    if where is not None:
        return f"\n  at {where}" if where else ""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not is_checker_frame(f.filename)]
    if not frames:
        return ""
    f = frames[-1]
    where = f"line {f.lineno} of {f.name}()"
    return f"\n  at {where}: {f.line.strip()}" if f.line else f"\n  at {where}"


@dataclass
class _Run:
    """The check running now: how many cases it entered, and how many are open."""
    cases: int = 0
    open_cases: int = 0


_RUN: ContextVar[_Run | None] = ContextVar("check_run", default=None)


@contextmanager
def case(description: str) -> Iterator[None]:
    """Run one case; turn any failure inside it into a CheckFailure naming the case.
    The running check counts it, unless it is nested in another case."""
    run = _RUN.get()
    if run is not None:
        run.cases += run.open_cases == 0
        run.open_cases += 1
    try:
        yield
    except CheckFailure as err:
        raise CheckFailure(f"case [{description}]: {err}") from None
    except NotImplementedError as err:
        detail = f" ({err})" if str(err) else ""
        raise CheckFailure(f"case [{description}]: not implemented yet{detail}."
                           f"{_student_frame(err)}") from None
    except Exception as err:
        raise CheckFailure(f"case [{description}]: your code raised {type(err).__name__}: {err}"
                           f"{_student_frame(err)}") from None
    finally:
        if run is not None:
            run.open_cases -= 1


def check(title: str) -> Callable:
    """Decorate a check function: run it on one thread, count its cases, time it, print a
    one-line success, or raise one clean failure.

    Called from inside another check, it only runs its cases: they count for the caller, and
    a failure is titled by the caller. The failure is re-raised from here with its traceback
    cut, so a student (and the nbgrader feedback) sees the message, not the checker's internals.
    """
    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs) -> None:
            __tracebackhide__ = True
            if _RUN.get() is not None:
                fn(*args, **kwargs)
                return
            start = time.perf_counter()
            failure = None
            threads = torch.get_num_threads()
            token = _RUN.set(_Run())
            # Check tensors are tiny: a second thread gains nothing, and on a busy machine every
            # op waits for a descheduled thread, which made checks 5 to 30 times slower.
            torch.set_num_threads(1)
            try:
                fn(*args, **kwargs)
            except CheckFailure as err:
                failure = CheckFailure(f"{title}: {err}")
            finally:
                torch.set_num_threads(threads)
                cases = _RUN.get().cases
                _RUN.reset(token)
            if failure is not None:
                raise failure.with_traceback(None)
            counted = f" ({cases} case{'s' * (cases != 1)})" if cases else ""
            print(f"✓ {title}: passed{counted} in {time.perf_counter() - start:.2f} s")
        return run
    return decorate


def fail(message: str, hint: str | None = None) -> None:
    """Raise a CheckFailure with an optional one-line hint."""
    raise CheckFailure(message + (f"\n  Hint: {hint}" if hint else ""))


def expect_tensor(got, shape: Sequence[int], what: str = "output", dtype: torch.dtype | None = None,
                  hint: str | None = None) -> None:
    """Fail unless `got` is a tensor with this shape (and dtype, if given)."""
    if not isinstance(got, torch.Tensor):
        fail(f"{what} should be a torch.Tensor, got {type(got).__name__}", hint)
    if type(got) not in (torch.Tensor, nn.Parameter):  # a subclass can redefine what comparing it means
        fail(f"{what} should be a plain torch.Tensor, got the subclass {type(got).__name__}",
             "return the result of torch operations, not a tensor subclass of your own")
    if tuple(got.shape) != tuple(shape):
        fail(f"{what} has the wrong shape: expected {tuple(shape)}, got {tuple(got.shape)}", hint)
    if dtype is not None and got.dtype != dtype:
        fail(f"{what} has the wrong dtype: expected {dtype}, got {got.dtype}", hint)


def _matches(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float) -> bool:
    return got.shape == expected.shape and torch.allclose(got.double(), expected.double(), atol=atol, rtol=rtol)


def expect_close(got, expected: torch.Tensor, what: str = "output", atol: float = 1e-5, rtol: float = 1e-4,
                 hint: str | None = None, variants: Sequence[tuple[torch.Tensor, str]] = ()) -> None:
    """Fail unless `got` matches `expected` in shape and value.

    variants: (tensor, hint) pairs computed the way a known mistake would compute them;
    when `got` matches one of them, its hint replaces the generic one, so the message
    points at the actual bug.
    """
    expect_tensor(got, expected.shape, what, hint=hint)
    got = got.detach()
    if _matches(got, expected, atol, rtol):
        return
    for variant, variant_hint in variants:
        if _matches(got, variant.detach(), atol, rtol):
            hint = variant_hint
            break
    if not torch.isfinite(got).all():
        fail(f"{what} contains NaN or inf (expected finite values)", hint)
    err = (got.double() - expected.double()).abs()
    idx = unravel(int(err.argmax()), err.shape)
    want, have = expected[idx].item(), got[idx].item()
    digits = next((d for d in range(5, 17) if f"{want:.{d}g}" != f"{have:.{d}g}"), 17)  # never shown alike
    fail(f"{what} values differ: max abs error {err.max().item():.3g} at index {list(idx)}: "
         f"expected {want:.{digits}g}, got {have:.{digits}g}", hint)


def unravel(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    """The index of element `flat` of a tensor of this shape. By hand: torch.unravel_index imports
    sympy on first use, which made a first failure cost four times a pass."""
    idx = []
    for size in reversed(tuple(shape)):
        flat, i = divmod(flat, size)
        idx.append(i)
    return tuple(reversed(idx))


def expect_close_lazily(got, expected: torch.Tensor, what: str, variants: Callable[[], list[tuple[torch.Tensor, str]]],
                        atol: float = 1e-5, rtol: float = 1e-4, hint: str | None = None) -> None:
    """expect_close, computing the known mistakes' outputs only when `got` is wrong: most calls pass,
    and the bank runs every check once per known bug."""
    if (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and torch.allclose(got.detach().double(), expected.double(), atol=atol, rtol=rtol)):
        return
    expect_close(got, expected, what, atol=atol, rtol=rtol, hint=hint, variants=variants())


_FORBIDDEN: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("forbidden_ops", default=())
# The executor that runs the student's code while grading (grading/remote.py's Session), or None in-process.
_EXECUTOR: ContextVar[Any] = ContextVar("executor", default=None)


def forbidden_ops() -> dict[str, str]:
    """The ops that the running check forbids (see forbid_ops): grading sends them to the student's process."""
    return dict(_FORBIDDEN.get())


class _ForbidOps(TorchFunctionMode):
    """Sees every torch function that runs, however the student reached it (module,
    functional, torch.ops.aten). A function mode, not a dispatch mode: entering a dispatch
    mode imports torch._dynamo, which costs more than a whole check.

    Keys of `forbidden` match as substrings of the op name, so 'group_norm' also
    catches 'native_group_norm'.
    """

    def __init__(self, forbidden: dict[str, str]):
        super().__init__()
        self.forbidden = forbidden

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        for key, message in self.forbidden.items():
            if key in name:
                raise CheckFailure(message)
        return func(*args, **(kwargs or {}))


@contextmanager
def forbid_ops(forbidden: dict[str, str]) -> Iterator[None]:
    """Fail with the given message if a torch function whose name contains a key (e.g. 'group_norm') runs,
    here or, when grading, in the process that runs the student's code."""
    token = _FORBIDDEN.set(tuple({**dict(_FORBIDDEN.get()), **forbidden}.items()))
    try:
        with _ForbidOps(forbidden):
            yield
    finally:
        _FORBIDDEN.reset(token)


def forbid_submodules(module: nn.Module, kinds: tuple[type, ...], message: str) -> None:
    """Fail if `module` contains a submodule of one of these types."""
    for name, sub in module.named_modules():
        if isinstance(sub, kinds):
            fail(f"{message} (found {type(sub).__name__} at '{name or 'self'}')")


def copy_weights(dst: nn.Module, src: nn.Module, what: str) -> None:
    """Load the reference module's weights into the student's, by attribute name.

    A Linear weight (out, in) and a 1x1 Conv2d weight (out, in, 1, 1) are the same map,
    so either layout is accepted on either side.
    """
    src_state, dst_state = src.state_dict(), dst.state_dict()
    missing = sorted(set(src_state) - set(dst_state))
    extra = sorted(k for k in set(dst_state) - set(src_state) if not k.endswith("num_batches_tracked"))
    if missing or extra:
        fail(f"{what} does not have the parameters the stub prescribes.\n"
             f"  expected: {sorted(src_state)}\n  missing: {missing}\n  unexpected: {extra}",
             "keep the attribute names from the stub's docstring, so the checker can copy weights in")
    loaded = {}
    for key, value in src_state.items():
        target = dst_state[key]
        if target.shape != value.shape:
            if target.numel() != value.numel() or target.squeeze().shape != value.squeeze().shape:
                fail(f"{what}: '{key}' has shape {tuple(target.shape)}, expected {tuple(value.shape)}",
                     "check the in/out channel counts and kernel size of that layer")
            value = value.reshape(target.shape)
        loaded[key] = value
    dst.load_state_dict(loaded)


@contextmanager
def standing_in(fn: Callable, **stand_ins: Any) -> Iterator[None]:
    """Run with the global names that `fn` calls (the student's earlier exercises, such as the q_sample
    that noise_img calls) replaced by stand-ins, so a mistake there costs the points of its own check only.
    A function that computes everything itself is graded as it is. A decorated function (@torch.no_grad(), or
    any decorator that keeps it as __wrapped__, as functools.wraps does) calls the names of its own module, not the
    decorator's: the stand-ins go there."""
    while (inner := getattr(fn, "__wrapped__", None)) is not None:
        fn = inner
    namespace = getattr(fn, "__globals__", None)
    if namespace is None:
        yield
        return
    saved = {name: namespace[name] for name in stand_ins if name in namespace}
    namespace.update(stand_ins)
    try:
        yield
    finally:
        for name in stand_ins:
            if name in saved:
                namespace[name] = saved[name]
            else:
                namespace.pop(name, None)


class Fake:
    """Mixin of the stand-ins that may run beside the student's code (a lesson's fakes.py): it records
    how each was built, so that grading can build its twin where the student's code runs. A fake
    computes nothing an exercise must: fake blocks, fake networks, schedules made of given tensors."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def recording(self, *args: Any, **kwargs: Any) -> None:
            if getattr(self, "_fake_recipe", None) is None:  # the outermost __init__ records the call
                object.__setattr__(self, "_fake_recipe", (args, kwargs))
            init(self, *args, **kwargs)
        cls.__init__ = recording


def lend(fake: Any) -> Any:
    """The stand-in as the student's code sees it: itself, or, when grading, its twin in the process that runs
    the student's code; read from it what that code did (the calls a fake network recorded, its gradients),
    and compute what is expected from the original, which stays with the checks."""
    executor = _EXECUTOR.get()
    return fake if executor is None else executor.lend(fake)


def seeded(seed: int) -> torch.Generator:
    """A generator for reproducible check inputs that leaves the global RNG alone."""
    return torch.Generator().manual_seed(seed)


def isolated(fn: Callable, *args, **kwargs) -> tuple[Any, bool]:
    """Call fn with the global RNG forked; return its result and whether it drew from the global RNG.
    The student's random state is the same after a check as before it."""
    with torch.random.fork_rng(devices=[]):
        before = torch.random.get_rng_state()
        out = fn(*args, **kwargs)
        drew = not torch.equal(before, torch.random.get_rng_state())
    return out, drew


def run_hidden(lesson: str, exercise: str, *args) -> None:
    """Run the hidden checks of one exercise: `run_hidden("l1_blocks", "groupnorm", GroupNorm)`.

    Hidden checks exist only where the instructor grades; a student copy says so plainly. A failure
    says that it is a hidden case, names the case and gives its hint, but shows neither the values the
    check expected nor the ones it got (`redact`), unless the grader sets DDPM_HIDDEN_DETAIL=1.
    """
    __tracebackhide__ = True
    name = f"ddpm_course.{lesson}.hidden"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        module = None
    if module is None:
        raise CheckFailure("hidden checks are only available when the instructor grades").with_traceback(None)
    failure = None
    try:
        getattr(module, exercise)(*args)
    except CheckFailure as err:
        # said up front: the notebook's visible checks passed, so the student must know where to look
        detail = os.environ.get("DDPM_HIDDEN_DETAIL") == "1"
        failure = CheckFailure(f"{HIDDEN_CASE}, not among the visible ones. {err if detail else redact(str(err))}")
    if failure is not None:
        raise failure.with_traceback(None)  # outside the except: no chained traceback into hidden.py


def redact(message: str) -> str:
    """A hidden case's failure without its values: the check and the case, what differs, where the student's
    code raised, and the hint; not what the check expected or got, which would tell a hidden case's answer."""
    lines = message.split("\n")
    first, rest = lines[0], [line for line in lines[1:] if line.lstrip().startswith(("Hint:", "at line"))]
    label = first.find("case [")
    head, what = (first, "") if label < 0 else (first[:label], first[label:])
    if what:
        close = _closing_bracket(what)
        case_label, what = what[:close + 1], what[close + 1:].removeprefix(": ")
        if not what.startswith(("your code raised", "not implemented yet")):
            what = what.split(": ")[0]
            for cut in (", expected", "; expected", " expected "):
                what = what.split(cut)[0]
        head += f"{case_label}: {what}"
    return "\n".join([head, *rest])


def _closing_bracket(text: str) -> int:
    """Index of the bracket that closes the first '[' of text (case labels hold lists)."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        if char == "]" and depth == 0:
            return i
    return len(text) - 1


HIDDEN_CASE = "failed a hidden case"
