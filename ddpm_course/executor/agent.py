"""The executor's side of grading: serve the checker's requests on the student's objects.

When grading reaches a check cell, the notebook's kernel (sandboxed, holding nothing secret) runs
`serve(path)` instead of the cell. The checker, in a trusted process of its own, runs the cell's
checks and asks, through the socket at `path`, for what it needs of the student's code: a name of
the notebook, an attribute, a call, an item, a repr, a backward pass. This side answers with values
(tensors and plain data) or with handles to objects that stay here; it never sees the checks, the
hidden cases' expected values or the reference.

Everything here runs beside the student's code and can be rewritten by it: the checker trusts none
of it, and compares what comes back in its own memory. What this module does for the checker is
only to make the student's objects behave as they would in-process: each request runs with the
checker's global random state, gradient mode and default dtype, under the check's forbidden ops,
and reports back how the random state, the generators and the tensors it was given changed.
"""
from __future__ import annotations

import importlib
import inspect
import itertools
import socket
import traceback
from contextlib import ExitStack, nullcontext
from typing import Any

import torch

from ddpm_course.checking import CheckFailure, _ForbidOps, is_checker_frame
from ddpm_course.executor import wire

MESSAGE_LIMIT = 300  # characters of the student's own exception text that reach the checker
ITEMS_LIMIT = 10_000  # items of one iteration


class Agent:
    """The objects the checker holds handles to, and the requests it may make."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace
        self.objects: dict[int, Any] = {}
        self.handles: dict[int, int] = {}  # id(object) -> handle, so one object keeps one handle
        self.lent: dict[str, Any] = {}  # the checker's stand-ins, built here once each
        self.graphs: dict[int, torch.Tensor] = {}  # results that require grad, for a later backward
        self.leaves: dict[int, torch.Tensor] = {}  # the checker's tensors that require grad
        self.rng = torch.get_rng_state()  # the checker's global random state, as last sent or left by a request

    # ------------------------------------------------------------ encoding
    def ref(self, obj: Any, encode=None) -> dict:
        if inspect.ismethod(obj) and not isinstance(obj.__self__, type):  # module.parameters: a call away, by name
            return {"M": self.ref(obj.__self__), "name": obj.__name__}
        handle = self.handles.get(id(obj))
        if handle is None or self.objects.get(handle) is not obj:
            handle = len(self.objects) + 1
            self.objects[handle], self.handles[id(obj)] = obj, handle
        info = describe(obj)
        if not isinstance(obj, type):  # its class too, so that type(proxy)(*args) can build another
            info["class"] = self.ref(type(obj))["R"]
        return {"R": handle, "info": info}

    def encode(self, value: Any, args: dict[int, torch.Tensor]) -> bytes:
        by_arg = {id(t): lid for lid, t in args.items()}

        def extra(t: torch.Tensor) -> dict:
            if id(t) in by_arg:
                return {"arg": by_arg[id(t)]}
            if t.requires_grad and t.grad_fn is not None:
                gid = len(self.graphs) + 1
                self.graphs[gid] = t
                return {"g": gid}
            return {}
        return wire.dumps(value, self.ref, extra, mutable_by_ref=True)

    def decode(self, data: bytes) -> tuple[Any, dict[int, torch.Tensor], dict[str, torch.Generator]]:
        """The request, the checker's tensors in it by their ids, and the generators in it by key."""
        tensors: dict[int, torch.Tensor] = {}
        generators: dict[str, torch.Generator] = {}

        def tensor_node(t: torch.Tensor, node: dict) -> torch.Tensor:
            lid = node.get("lid")
            if not isinstance(lid, int):
                return t
            if t.requires_grad:  # one leaf per checker tensor, so its gradient accumulates in one place
                t = self.leaves.setdefault(lid, t)
            tensors[lid] = t
            return t

        def resolve(node: dict, decode) -> Any:
            if "R" in node:
                if node["R"] not in self.objects:
                    raise wire.WireError("unknown handle")
                return self.objects[node["R"]]
            if "G" in node:
                key = str(node["G"])
                if key not in generators:
                    state = decode(node.get("state"))
                    if not isinstance(state, torch.Tensor):
                        raise wire.WireError("bad generator state")
                    generators[key] = torch.Generator()
                    generators[key].set_state(state)
                return generators[key]
            if "L" in node:
                return self.lend(node, decode)
            raise wire.WireError("unknown node")

        return wire.loads(data, resolve, tensor_node), tensors, generators

    def lend(self, node: dict, decode) -> Any:
        """A stand-in of the checker's: a class, function or instance from a lesson's fakes module,
        the one kind of checker code allowed here (it computes no answer)."""
        key = str(node["L"])
        if key in self.lent:
            return self.lent[key]
        module_name, qualname = str(node.get("mod", "")), str(node.get("qual", ""))
        if not (module_name.startswith("ddpm_course.") and module_name.endswith(".fakes")) \
                or any(part.startswith("__") for part in qualname.split(".")):
            raise wire.WireError(f"cannot lend {module_name}.{qualname}")
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if node.get("inst"):
            obj = obj(*decode(node.get("args", [])), **decode(node.get("kwargs", {"D": []})))
        self.lent[key] = obj
        return obj

    # ------------------------------------------------------------ requests
    def handle(self, request: dict, tensors: dict[int, torch.Tensor]) -> Any:
        op, target = request.get("op"), request.get("target")
        if op == "identity":  # a stand-in the checker lends, to hold a handle to it here
            return request.get("value")
        if op == "name":
            name = str(request["name"])
            if name not in self.namespace:
                raise NameError(f"name '{name}' is not defined")
            return self.namespace[name]
        if op == "getattr":
            return getattr(target, str(request["name"]))
        if op == "setattr":
            setattr(target, str(request["name"]), request["value"])
            return None
        if op == "delattr":
            delattr(target, str(request["name"]))
            return None
        if op == "call":
            return _whole(target(*request.get("args", ()), **request.get("kwargs", {})))
        if op == "callmethod":
            return _whole(getattr(target, str(request["name"]))(*request.get("args", ()), **request.get("kwargs", {})))
        if op == "getitem":
            return target[request["key"]]
        if op == "setitem":
            target[request["key"]] = request["value"]
            return None
        if op == "delitem":
            del target[request["key"]]
            return None
        if op == "len":
            return len(target)
        if op == "bool":
            return bool(target)
        if op == "contains":
            return request["value"] in target
        if op == "iter":
            items = []
            for item in target:
                items.append(item)
                if len(items) > ITEMS_LIMIT:
                    raise RuntimeError(f"more than {ITEMS_LIMIT} items")
            return tuple(items)
        if op == "repr":
            return repr(target)[:100_000]
        if op == "str":
            return str(target)[:100_000]
        if op == "dir":
            return sorted(str(name) for name in dir(target))
        if op == "backward":
            graph = self.graphs[int(request["g"])]
            torch.autograd.backward([graph], [request["grad"]], retain_graph=True)
            return None
        raise wire.WireError(f"unknown request {op!r}")

    def serve_one(self, data: bytes) -> bytes:
        try:
            request, tensors, generators = self.decode(data)
        except Exception as err:  # a malformed request is the checker's bug: say so, go on
            return wire.dumps({"err": {"type": "WireError", "builtin": False, "msg": str(err)[:MESSAGE_LIMIT]}})
        ctx = request.get("ctx") or {}
        before = {lid: t.detach().clone() for lid, t in tensors.items() if not t.requires_grad}
        reply: dict[str, Any] = {}
        saved_rng, saved_dtype = torch.get_rng_state(), torch.get_default_dtype()
        try:
            with ExitStack() as stack:
                if isinstance(ctx.get("rng"), torch.Tensor):
                    self.rng = ctx["rng"]
                torch.set_rng_state(self.rng)
                if isinstance(ctx.get("dtype"), torch.dtype):
                    torch.set_default_dtype(ctx["dtype"])
                stack.enter_context(torch.set_grad_enabled(bool(ctx.get("grad", True))))
                forbid = ctx.get("forbid")
                stack.enter_context(_ForbidOps(dict(forbid)) if forbid else nullcontext())
                result = self.handle(request, tensors)
            reply["ok"] = result
        except BaseException as err:  # whatever the student's code raised (exit, interrupt too) is reported
            reply["err"] = error_record(err)
        finally:
            rng = torch.get_rng_state()
            if not torch.equal(rng, self.rng):
                reply["rng"] = self.rng = rng
            torch.set_rng_state(saved_rng)
            torch.set_default_dtype(saved_dtype)
        if generators:
            reply["gens"] = {key: g.get_state() for key, g in generators.items()}
        changed = {lid: tensors[lid].detach() for lid, old in before.items() if not _same(tensors[lid], old)}
        if changed:
            reply["changed"] = changed
        if request.get("op") == "backward":
            reply["grads"] = {lid: leaf.grad for lid, leaf in self.leaves.items() if leaf.grad is not None}
        try:
            return self.encode(reply, tensors)
        except wire.WireError as err:
            reply = {"err": {"type": "WireError", "builtin": False, "msg": f"the result cannot be sent: {err}"}}
            return wire.dumps(reply)


def _whole(result: Any) -> Any:
    """A generator's items, as a tuple (module.parameters(), named_modules(), ...): the checks only iterate them,
    and a generator would take a request per item."""
    if inspect.isgenerator(result):
        items = tuple(itertools.islice(result, ITEMS_LIMIT + 1))
        if len(items) > ITEMS_LIMIT:
            raise RuntimeError(f"more than {ITEMS_LIMIT} items")
        return items
    return result


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and (a.device.type == "meta" or torch.equal(a.detach(), b))


def describe(obj: Any) -> dict:
    """What the checker needs to stand in for an object it holds a handle to."""
    cls = obj if isinstance(obj, type) else type(obj)
    torch_bases = [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__
                   if c.__module__.startswith("torch.") and "<" not in c.__qualname__]
    kind = ("class" if isinstance(obj, type) else "module" if isinstance(obj, torch.nn.Module)
            else "function" if callable(obj) else "object")
    return {"type": type(obj).__name__, "name": str(getattr(obj, "__name__", ""))[:200] if kind in ("class", "function")
            else "", "kind": kind, "torch": torch_bases[:20], "cls": cls.__name__}


def error_record(err: BaseException) -> dict:
    """An exception of the student's code, as the checker reports it: type, message cut short, and the
    line of the student's code that raised it (never the agent's, the package's or torch's)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not is_checker_frame(f.filename)]
    where = ""
    if frames:
        f = frames[-1]
        where = f"line {f.lineno} of {f.name}()" + (f": {f.line.strip()}" if f.line else "")
    message = str(err)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + " ..."
    return {"type": type(err).__name__, "builtin": type(err).__module__ == "builtins",
            "check": isinstance(err, CheckFailure), "msg": message, "where": where[:MESSAGE_LIMIT]}


def serve(path: str, token: str) -> None:
    """Connect to the checker at `path` and answer its requests until it is done."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    namespace = shell.user_ns if shell is not None else vars(importlib.import_module("__main__"))
    agent = Agent(namespace)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        wire.send(sock, token.encode())
        while True:
            try:
                data = wire.receive(sock)
            except ConnectionError:
                return
            if data == b"done":
                return
            wire.send(sock, agent.serve_one(data))
