"""The wire between the grading checker and the executor that runs a student's notebook.

A message is one frame: its length (8 bytes), the length of a JSON header (4 bytes), the header,
then the raw bytes of every tensor in it. Decoding runs no code of the sender's: it reads JSON, and
rebuilds tensors from bytes with a dtype taken from a fixed list. Nothing is pickled, in either
direction, so a forged message can at worst carry wrong values.

Values travel by value when they are data (None, numbers, strings, bytes, tensors, dtypes, devices,
and tuples, lists and dicts of them); anything else is handed to the `by_ref` callback of the
sender, which turns it into a tagged node that the receiver's `resolve` callback understands.
"""
from __future__ import annotations

import json
import socket
import struct
from typing import Any, Callable

import torch

MAX_FRAME = 256 * 2**20  # no check needs more; a bigger frame is an attack or a bug
MAX_DEPTH = 64
MAX_ITEMS = 100_000
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)}


class WireError(Exception):
    """A frame that is malformed, too large, or holds something that cannot travel."""


class Unsendable(WireError):
    """A value that is neither data nor something the sender's `by_ref` can name."""


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def is_data(o: Any, depth: int = 0) -> bool:
    """Whether `o` travels whole by value: data, or lists, tuples and dicts of nothing else."""
    if depth > MAX_DEPTH:
        return False
    if o is None or isinstance(o, (bool, int, float, complex, str, bytes, torch.Tensor, torch.dtype, torch.device,
                                   torch.Size, slice)) or o is Ellipsis:
        return True
    if type(o) in (list, tuple):
        return len(o) <= MAX_ITEMS and all(is_data(v, depth + 1) for v in o)
    if type(o) is dict:
        return len(o) <= MAX_ITEMS and all(is_data(k, depth + 1) and is_data(v, depth + 1) for k, v in o.items())
    return False


def dumps(obj: Any, by_ref: Callable[[Any, Callable[[Any], Any]], dict] | None = None,
          tensor_extra: Callable[[torch.Tensor], dict] | None = None, mutable_by_ref: bool = False) -> bytes:
    """Encode `obj`; `by_ref(value, encode)` encodes what is not data (`encode` encodes values to nest in its
    node), `tensor_extra(t)` adds keys to a tensor's node.

    mutable_by_ref: a list or dict that holds anything but data goes to `by_ref` whole, so that the
    receiver can change the sender's own (a module's list of blocks, a function's globals); a tuple
    always travels as a tuple, each item by value or by reference, and so does the message itself."""
    blobs: list[bytes] = []
    size = 0

    def enc(o: Any, depth: int) -> Any:
        nonlocal size
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        kind = type(o)  # the common plain types first, by type: most of a message is made of them
        if o is None or kind is str or kind is bool:
            return o
        if kind is int:
            return o if abs(o) < 2**63 else {"I": str(o)}
        if kind is float:
            return o if o == o and abs(o) != float("inf") else {"F": repr(o)}
        if kind is dict and not (mutable_by_ref and depth > 0 and by_ref is not None) and len(o) <= MAX_ITEMS:
            return {"D": [[enc(k, depth + 1), enc(v, depth + 1)] for k, v in o.items()]}
        if isinstance(o, (bool, str)):
            return str(o) if isinstance(o, str) else bool(o)
        if isinstance(o, int):
            return int(o) if abs(o) < 2**63 else {"I": str(o)}
        if isinstance(o, float):
            return float(o) if o == o and abs(o) != float("inf") else {"F": repr(o)}
        if isinstance(o, torch.Tensor):
            if o.layout != torch.strided or o.is_quantized or o.dtype not in DTYPES.values():
                raise Unsendable(f"a tensor of layout {o.layout} and dtype {o.dtype}")
            node = {"dtype": str(o.dtype).removeprefix("torch."), "shape": list(o.shape), "device": str(o.device),
                    "rg": bool(o.requires_grad), "param": isinstance(o, torch.nn.Parameter)}
            if o.device.type != "meta":
                data = _tensor_bytes(o)
                size += len(data)
                if size > MAX_FRAME:
                    raise WireError("message too large")
                node["blob"] = len(blobs)
                blobs.append(data)
            if o.is_leaf and o.grad is not None:  # a parameter's gradient goes with it
                node["grad"] = enc(o.grad, depth + 1)
            if tensor_extra is not None:
                node.update(tensor_extra(o))
            return {"X": node}
        if isinstance(o, torch.dtype):
            return {"dt": str(o).removeprefix("torch.")}
        if isinstance(o, torch.device):
            return {"dev": str(o)}
        if isinstance(o, torch.Size):
            return {"sz": list(o)}
        if isinstance(o, complex):
            return {"c": [o.real, o.imag]}
        if isinstance(o, bytes):
            blobs.append(o)
            return {"B": len(blobs) - 1}
        if isinstance(o, slice):
            return {"sl": [enc(o.start, depth + 1), enc(o.stop, depth + 1), enc(o.step, depth + 1)]}
        if o is Ellipsis:
            return {"E": 1}
        if mutable_by_ref and depth > 0 and by_ref is not None and type(o) in (list, dict) and not is_data(o):
            return by_ref(o, lambda v: enc(v, depth + 1))
        if type(o) in (list, tuple) and len(o) <= MAX_ITEMS:
            items = [enc(v, depth + 1) for v in o]
            return items if type(o) is list else {"T": items}
        if type(o) is dict and len(o) <= MAX_ITEMS:
            return {"D": [[enc(k, depth + 1), enc(v, depth + 1)] for k, v in o.items()]}
        if by_ref is None:
            raise Unsendable(f"a {type(o).__name__}")
        return by_ref(o, lambda v: enc(v, depth + 1))

    header = json.dumps(enc(obj, 0), separators=(",", ":")).encode()
    body = b"".join(blobs)
    lengths = json.dumps([len(b) for b in blobs]).encode()
    return struct.pack("<II", len(header), len(lengths)) + header + lengths + body


def loads(data: bytes, resolve: Callable[[dict, Callable[[Any], Any]], Any] | None = None,
          tensor_node: Callable[[torch.Tensor, dict], torch.Tensor] | None = None) -> Any:
    """Decode what `dumps` wrote; `resolve(node, decode)` turns a tagged node it does not know into a value
    (`decode` decodes the values nested in the node),
    `tensor_node(t, node)` may replace each decoded tensor (to follow its extra keys)."""
    if len(data) < 8:
        raise WireError("truncated message")
    header_len, lengths_len = struct.unpack_from("<II", data)
    end = 8 + header_len + lengths_len
    if end > len(data):
        raise WireError("truncated message")
    try:
        tree = json.loads(data[8:8 + header_len])
        lengths = json.loads(data[8 + header_len:end])
    except ValueError as err:
        raise WireError(f"malformed header: {err}") from None
    if not isinstance(lengths, list) or not all(isinstance(n, int) and n >= 0 for n in lengths) \
            or end + sum(lengths) != len(data):
        raise WireError("malformed blob table")
    offsets = [end]
    for n in lengths:
        offsets.append(offsets[-1] + n)

    def blob(i: Any) -> bytes:
        if not isinstance(i, int) or not 0 <= i < len(lengths):
            raise WireError("bad blob index")
        return data[offsets[i]:offsets[i + 1]]

    def tensor(node: Any) -> torch.Tensor:
        if not isinstance(node, dict) or node.get("dtype") not in DTYPES:
            raise WireError("bad tensor")
        dtype, shape = DTYPES[node["dtype"]], node.get("shape")
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise WireError("bad tensor shape")
        device = str(node.get("device", "cpu"))
        if device.startswith("meta"):
            t = torch.empty(shape, dtype=dtype, device="meta")
        else:
            raw = blob(node.get("blob"))
            count = 1
            for n in shape:
                count *= n
            if len(raw) != count * torch.empty((), dtype=dtype).element_size():
                raise WireError("tensor bytes do not match its shape")
            t = (torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape) if raw
                 else torch.empty(shape, dtype=dtype))
        if node.get("param"):
            t = torch.nn.Parameter(t, requires_grad=bool(node.get("rg")))
        elif node.get("rg") and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_()
        if "grad" in node:
            grad = dec(node["grad"], 1)
            if t.requires_grad and isinstance(grad, torch.Tensor) and grad.shape == t.shape:
                t.grad = grad.to(t.dtype)
        return tensor_node(t, node) if tensor_node is not None else t

    def dec(o: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        kind = type(o)
        if o is None or kind is str or kind is int or kind is float or kind is bool:
            return o
        if kind is list:
            return [dec(v, depth + 1) for v in o]
        if not isinstance(o, dict) or len(o) < 1:
            raise WireError("bad node")
        if "X" in o:
            return tensor(o["X"])
        if "T" in o:
            return tuple(dec(v, depth + 1) for v in _list(o["T"]))
        if "D" in o:
            return {_key(dec(k, depth + 1)): dec(v, depth + 1) for k, v in (_pair(p) for p in _list(o["D"]))}
        if "I" in o:
            return int(str(o["I"]))
        if "F" in o:
            return float(str(o["F"]))
        if "dt" in o:
            if o["dt"] not in DTYPES:
                raise WireError("bad dtype")
            return DTYPES[o["dt"]]
        if "dev" in o:
            return torch.device(str(o["dev"]))
        if "sz" in o:
            return torch.Size([int(n) for n in _list(o["sz"])])
        if "c" in o:
            re, im = _pair(o["c"])
            return complex(float(re), float(im))
        if "B" in o:
            return blob(o["B"])
        if "sl" in o:
            return slice(*(dec(v, depth + 1) for v in _list(o["sl"])[:3]))
        if "E" in o:
            return Ellipsis
        if resolve is None:
            raise WireError(f"unknown node {sorted(o)[:3]}")
        return resolve(o, lambda v: dec(v, depth + 1))

    return dec(tree, 0)


def _list(o: Any) -> list:
    if not isinstance(o, list) or len(o) > MAX_ITEMS:
        raise WireError("bad list")
    return o


def _pair(o: Any) -> tuple[Any, Any]:
    if not isinstance(o, list) or len(o) != 2:
        raise WireError("bad pair")
    return o[0], o[1]


def _key(k: Any) -> Any:
    try:
        hash(k)
    except TypeError:
        raise WireError("unhashable dict key") from None
    return k


def send(sock: socket.socket, payload: bytes) -> None:
    """Write one frame."""
    if len(payload) > MAX_FRAME:
        raise WireError("message too large")
    sock.sendall(struct.pack("<Q", len(payload)) + payload)


def _read(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket) -> bytes:
    """Read one frame; refuse one larger than MAX_FRAME before reading it."""
    (length,) = struct.unpack("<Q", _read(sock, 8))
    if length > MAX_FRAME:
        raise WireError(f"frame of {length} bytes refused")
    return _read(sock, length)
