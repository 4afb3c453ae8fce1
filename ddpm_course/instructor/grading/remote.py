"""The checker's side of grading: stand-ins, in the checker's memory, for the student's objects.

A graded cell's checks run in the trusted checker process, on `Remote` proxies of what the student's
notebook defined in the sandboxed executor (see ddpm_course/executor/agent.py). A proxy forwards what
the checks do to it (attributes, calls, items, repr, iteration) as requests, and gets back data by
value (tensors, numbers, strings, tuples, lists and dicts of them) or handles to other objects, which
become proxies in turn. A proxy of a torch module is an instance of that module's torch class (a
Conv2d's proxy is an nn.Conv2d), named as the student's class, so the checks' isinstance tests and
messages work unchanged; `type(proxy)(*args)` builds another instance in the executor.

Every request carries the checker's random state, gradient mode, default dtype and the ops the check
forbids, and its reply updates the checker's random state, generators, and any tensor the student's
code changed in place or computed a gradient for. A result that requires grad comes back as a leaf
whose gradient, when the check backpropagates into it, is sent on to the executor's graph. Nothing
that comes back is executed: it is decoded by ddpm_course.executor.wire, and the checks compare it
in the checker's memory.

What can go the other way, into the student's code, is data, generators, proxies of the student's own
objects, and stand-ins from a lesson's `fakes.py` (rebuilt there from their recipe): never a check, a
closed form or a reference.
"""
from __future__ import annotations

import builtins
import importlib
import itertools
import socket
import time
import weakref
from typing import Any

import torch

from ddpm_course import checking
from ddpm_course.checking import CheckFailure
from ddpm_course.executor import wire

LOCAL = frozenset({"_r_session", "_r_handle", "_r_info", "_r_methods", "__class__", "__dict__", "__weakref__"})


class RemoteError(Exception):
    """An exception of the student's code whose type is not a builtin one: its name is kept."""


_REMOTE_ERRORS: dict[str, type] = {}


def remote_error(record: dict) -> BaseException:
    """A local exception standing for one of the student's code: a builtin Exception type stays itself
    (a check may catch ValueError); any other type becomes a RemoteError subclass of the same name."""
    if record.get("check"):
        return CheckFailure(str(record.get("msg", "")))
    name, message = str(record.get("type", "Exception"))[:100], str(record.get("msg", ""))
    cls = getattr(builtins, name, None) if record.get("builtin") else None
    error = None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            error = cls(message)
        except TypeError:  # a builtin that takes other arguments (UnicodeDecodeError): keep its name
            error = None
    if error is None:
        if not name.isidentifier():
            name = "RemoteError"
        cls = _REMOTE_ERRORS.setdefault(name, type(name, (RemoteError,), {"__module__": "student"}))
        error = cls(message)
    error.__ddpm_where__ = str(record.get("where", ""))
    return error


class Session:
    """The connection to the executor for one graded cell, and the proxies of what it holds."""

    def __init__(self, sock: socket.socket | None, deadline: float, agent: Any = None) -> None:
        """A session over `sock`, the agent's connection; or, for the bank, straight to an agent of this process."""
        self.sock, self.deadline, self.agent = sock, deadline, agent
        self.proxies: dict[int, RemoteObject] = {}
        self.classes: dict[tuple, type] = {}
        self.lent: dict[int, tuple[str, Any]] = {}  # id(stand-in) -> (key, the stand-in, kept alive)
        self.twins: dict[str, RemoteObject] = {}
        self.lids: dict[int, tuple[int, weakref.ref]] = {}  # id(tensor) -> (lid, the tensor)
        self.tensors: dict[int, weakref.ref] = {}  # lid -> the tensor
        self.requests = 0
        self.forbade = False  # whether a check forbade ops in the student's process (see checker.shortcut_bypass)
        self._keys = itertools.count(1)
        self._rng: torch.Tensor | None = None  # the global random state the agent last knew of ours

    # ------------------------------------------------------------ sending
    def _lid(self, t: torch.Tensor) -> int:
        found = self.lids.get(id(t))
        if found is not None and found[1]() is t:
            return found[0]
        lid = next(self._keys)
        self.lids[id(t)] = (lid, weakref.ref(t))
        self.tensors[lid] = self.lids[id(t)][1]
        return lid

    def _tensor(self, lid: Any) -> torch.Tensor | None:
        ref = self.tensors.get(lid) if isinstance(lid, int) else None
        return ref() if ref is not None else None

    def _by_ref(self, obj: Any, encode) -> dict:
        if isinstance(obj, RemoteObject):
            if object.__getattribute__(obj, "_r_session") is not self:
                raise wire.Unsendable("an object of another graded cell")
            return {"R": object.__getattribute__(obj, "_r_handle")}
        if isinstance(obj, torch.Generator):
            return {"G": str(self._key_of(obj)), "state": encode(obj.get_state())}
        if isinstance(obj, checking.Fake) and not isinstance(obj, type):
            recipe = getattr(obj, "_fake_recipe", None) or ((), {})
            cls = type(obj)
            return {"L": str(self._key_of(obj)), "mod": cls.__module__, "qual": cls.__qualname__, "inst": True,
                    "args": encode(list(recipe[0])), "kwargs": encode(dict(recipe[1]))}
        if (isinstance(obj, type) or callable(obj)) and str(getattr(obj, "__module__", "")).endswith(".fakes"):
            return {"L": str(self._key_of(obj)), "mod": obj.__module__, "qual": obj.__qualname__}
        raise wire.Unsendable(f"the checker cannot hand a {type(obj).__name__} to the student's code; only data, "
                              "generators and the stand-ins of a lesson's fakes.py go there")

    def _key_of(self, obj: Any) -> int:
        found = self.lent.get(id(obj))
        if found is None or found[1] is not obj:
            found = self.lent[id(obj)] = (next(self._keys), obj)
        return found[0]

    def _tensor_extra(self, t: torch.Tensor) -> dict:
        return {"lid": self._lid(t)}

    # ------------------------------------------------------------ receiving
    def _resolve(self, node: dict, decode) -> Any:
        if isinstance(node.get("M"), dict):  # a bound method: one request to call; its class has it for good
            owner, name = self._resolve(node["M"], decode), str(node.get("name", ""))
            type(owner)._r_methods.add(name)
            return RemoteMethod(owner, name)
        if "R" not in node or not isinstance(node["R"], int):
            raise wire.WireError("unknown node from the executor")
        handle = node["R"]
        if handle not in self.proxies:
            info = node.get("info") if isinstance(node.get("info"), dict) else {}
            self.proxies[handle] = _make_proxy(self, handle, info)
        return self.proxies[handle]

    def _tensor_node(self, t: torch.Tensor, node: dict) -> torch.Tensor:
        if "arg" in node:  # the student's code returned one of the checker's own tensors
            found = self._tensor(node["arg"])
            if found is not None:
                return found
        if isinstance(node.get("g"), int) and t.requires_grad and t.is_leaf:
            gid = node["g"]

            def push(grad: torch.Tensor) -> torch.Tensor:
                self.request("backward", g=gid, grad=grad.detach())
                return grad
            t.register_hook(push)
        return t

    # ------------------------------------------------------------ a request
    def request(self, op: str, target: Any = None, **fields: Any) -> Any:
        """Send one request and return its result, or raise what the student's code raised."""
        rng = torch.get_rng_state()
        changed = self._rng is None or not torch.equal(rng, self._rng)
        forbid = checking.forbidden_ops()
        self.forbade = self.forbade or bool(forbid)
        message = {"op": op, **fields, "ctx": {
            "grad": torch.is_grad_enabled(), "rng": rng if changed else None, "dtype": torch.get_default_dtype(),
            "forbid": forbid}}
        self._rng = rng
        if target is not None:
            message["target"] = target
        payload = wire.dumps(message, self._by_ref, self._tensor_extra)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the graded cell ran out of time")
        self.requests += 1
        if self.agent is not None:
            answer = self.agent.serve_one(payload)
        else:
            self.sock.settimeout(left)
            wire.send(self.sock, payload)
            answer = wire.receive(self.sock)
        reply = wire.loads(answer, self._resolve, self._tensor_node)
        if not isinstance(reply, dict):
            raise wire.WireError("malformed reply")
        self._settle(reply)
        if "err" in reply:
            raise remote_error(reply["err"] if isinstance(reply["err"], dict) else {})
        return reply.get("ok")

    def _settle(self, reply: dict) -> None:
        """Bring the checker's random state, generators and tensors up to date with what the student's code did."""
        if isinstance(reply.get("rng"), torch.Tensor) and reply["rng"].dtype == torch.uint8:
            try:
                torch.set_rng_state(reply["rng"])
                self._rng = reply["rng"]
            except RuntimeError:
                pass  # a malformed state: keep ours
        keys = {str(key): obj for key, obj in self.lent.values()}
        for key, state in (reply.get("gens") or {}).items():
            generator = keys.get(str(key))
            if isinstance(generator, torch.Generator) and isinstance(state, torch.Tensor):
                try:
                    generator.set_state(state)
                except RuntimeError:
                    pass
        with torch.no_grad():
            for lid, value in (reply.get("changed") or {}).items():
                local = self._tensor(lid)
                if isinstance(local, torch.Tensor) and isinstance(value, torch.Tensor) and value.shape == local.shape:
                    local.copy_(value)
        for lid, grad in (reply.get("grads") or {}).items():
            local = self._tensor(lid)
            if isinstance(local, torch.Tensor) and local.requires_grad and isinstance(grad, torch.Tensor) \
                    and grad.shape == local.shape:
                local.grad = grad.to(local.dtype)

    def name(self, name: str) -> Any:
        """A name of the student's notebook."""
        return self.request("name", name=name)

    def lend(self, obj: Any) -> Any:
        """The executor's twin of a stand-in (built there on first use), to read what the student's code did to it."""
        key = str(self._key_of(obj))
        if key not in self.twins:
            self.twins[key] = self.request("identity", value=obj)
        return self.twins[key]

    def close(self) -> None:
        if self.sock is None:
            return
        try:
            wire.send(self.sock, b"done")
        except OSError:
            pass


# ------------------------------------------------------------ proxies
class RemoteObject:
    """A proxy of an object in the executor: every attribute, call and item goes there."""

    __slots__ = ("_r_session", "_r_handle", "_r_info")
    _r_methods: set[str] = set()  # each proxy class has its own: the names that are methods of the student's class

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # type(proxy)(*args): build another instance of the student's class, in the executor
        remote_class = cls.__dict__.get("_r_remote_class")
        if remote_class is None:
            raise TypeError(f"cannot build a {cls.__name__} here")
        return remote_class(*args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # built by __new__ in the executor already

    def __getattribute__(self, name: str) -> Any:
        if name in LOCAL:
            return object.__getattribute__(self, name)
        if name in type(self)._r_methods:  # a method of its class, seen before: no request until it is called
            return RemoteMethod(self, name)
        return _ask(self, "getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        _ask(self, "setattr", name=name, value=value)

    def __delattr__(self, name: str) -> None:
        _ask(self, "delattr", name=name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _ask(self, "call", args=args, kwargs=kwargs)

    def __repr__(self) -> str:
        return str(_ask(self, "repr"))

    def __str__(self) -> str:
        return str(_ask(self, "str"))

    def __len__(self) -> int:
        return int(_ask(self, "len"))

    def __bool__(self) -> bool:
        return bool(_ask(self, "bool"))

    def __iter__(self):
        return iter(_ask(self, "iter"))

    def __next__(self) -> Any:
        return _ask(self, "getattr", name="__next__")()

    def __getitem__(self, key: Any) -> Any:
        return _ask(self, "getitem", key=key)

    def __setitem__(self, key: Any, value: Any) -> None:
        _ask(self, "setitem", key=key, value=value)

    def __delitem__(self, key: Any) -> None:
        _ask(self, "delitem", key=key)

    def __contains__(self, value: Any) -> bool:
        return bool(_ask(self, "contains", value=value))

    def __dir__(self) -> list[str]:
        return list(_ask(self, "dir"))

    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __ne__(self, other: Any) -> bool:
        return self is not other


class RemoteMethod:
    """A bound method of an object in the executor (module.parameters): calling it is one request."""

    __slots__ = ("owner", "__name__")

    def __init__(self, owner: RemoteObject, name: str) -> None:
        self.owner, self.__name__ = owner, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _ask(self.owner, "callmethod", name=self.__name__, args=args, kwargs=kwargs)

    def __repr__(self) -> str:
        return f"<bound method {type(self.owner).__name__}.{self.__name__}>"


def _ask(proxy: RemoteObject, op: str, **fields: Any) -> Any:
    session = object.__getattribute__(proxy, "_r_session")
    return session.request(op, proxy, **fields)


def _torch_class(dotted: str) -> type | None:
    module_name, _, qualname = dotted.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _make_proxy(session: Session, handle: int, info: dict) -> RemoteObject:
    """A proxy of handle `handle`, of a class named as the student's, with the torch class it derives from."""
    kind, type_name = str(info.get("kind", "object")), str(info.get("type", "object"))
    bases: tuple[type, ...] = ()
    for dotted in info.get("torch", [])[:1] if kind != "class" else []:
        base = _torch_class(str(dotted))
        if base is not None and base is not torch.Tensor:
            bases = (base,)
    class_handle = info.get("class")
    key = (type_name if type_name.isidentifier() else "Remote", bases, class_handle)
    cls = session.classes.get(key)
    if cls is None:
        attributes: dict[str, Any] = {"__slots__": (), "__module__": "student", "_r_methods": set()}
        if isinstance(class_handle, int):  # type(proxy)(*args) builds another instance of this class
            remote_class = session.proxies.get(class_handle)
            if remote_class is None:
                remote_class = session.proxies[class_handle] = _make_proxy(session, class_handle, {"kind": "class"})
            attributes["_r_remote_class"] = remote_class
        try:
            cls = type(key[0], (RemoteObject, *bases), attributes)
        except TypeError:  # a torch class that cannot be subclassed: the proxy is a plain one
            cls = type(key[0], (RemoteObject,), attributes)
        session.classes[key] = cls
    proxy = object.__new__(cls)
    object.__setattr__(proxy, "_r_session", session)
    object.__setattr__(proxy, "_r_handle", handle)
    object.__setattr__(proxy, "_r_info", info)
    return proxy


def loopback(namespace: dict, seconds: float = 120) -> Session:
    """A Session to an agent of this process serving `namespace`: the proxies, the wire and the agent exactly as
    grading uses them, each request handed over in memory instead of a socket (the bank grades every known bug
    this way, in a fraction of the time)."""
    from ddpm_course.executor.agent import Agent

    return Session(None, time.monotonic() + seconds, Agent(namespace))
