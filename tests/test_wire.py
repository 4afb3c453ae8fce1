"""The wire between checker and executor: does every kind of data come back equal, and does decoding refuse,
without running anything, what a hostile executor could send?"""
from __future__ import annotations

import pickle
import socket
import struct
import threading

import pytest
import torch

from ddpm_course.executor import wire

VALUES = [
    None, True, 3, -2**70, 1.5, float("nan"), float("-inf"), "text", b"\x00bytes", 2 + 3j, (1, (2, "x")), [1, [2.0]],
    {"a": 1, 2: (3,)}, torch.float64, torch.device("cpu"), torch.Size([2, 3]), slice(1, None, 2), Ellipsis,
    torch.arange(6, dtype=torch.int64).reshape(2, 3), torch.randn(2, 3, generator=torch.Generator().manual_seed(0)),
    torch.tensor([True, False]), torch.zeros(0, 4), torch.tensor(2.5, dtype=torch.bfloat16),
]


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_data_comes_back_equal_and_of_its_type(value):
    """Does each kind of data survive the round trip with its type, dtype and shape?"""
    assert same(wire.loads(wire.dumps(value)), value)


def test_a_parameter_travels_with_its_gradient_and_a_meta_tensor_without_bytes():
    """Does a parameter come back a parameter, with its gradient, and a tensor on the meta device stay there?"""
    parameter = torch.nn.Parameter(torch.ones(3))
    parameter.grad = torch.full((3,), 2.0)
    back = wire.loads(wire.dumps({"p": parameter, "m": torch.empty(2, 5, device="meta")}))
    assert isinstance(back["p"], torch.nn.Parameter) and torch.equal(back["p"].grad, parameter.grad)
    assert back["m"].device.type == "meta" and back["m"].shape == (2, 5)


def test_what_is_not_data_goes_to_the_senders_callback_or_is_refused():
    """Is an object that is not data handed to by_ref, and refused without one?"""
    marker = object()
    assert wire.loads(wire.dumps([marker], by_ref=lambda o, enc: {"R": 7}), resolve=lambda node, dec: node) == [
        {"R": 7}]
    with pytest.raises(wire.Unsendable):
        wire.dumps(marker)


def test_a_list_of_objects_goes_by_reference_where_the_receiver_must_change_the_senders_own():
    """With mutable_by_ref, does a dict or list that holds an object go whole by reference, while a tuple and a
    list of data still travel by value?"""
    refs = []
    encoded = wire.dumps(({"k": [object()]}, [1, 2], (object(),)), by_ref=lambda o, enc: refs.append(o) or {"R": 1},
                         mutable_by_ref=True)
    assert [type(r) for r in refs] == [dict, object]
    assert wire.loads(encoded, resolve=lambda node, dec: "ref") == ("ref", [1, 2], ("ref",))


@pytest.mark.parametrize("forged", [
    b"\x00" * 4,
    struct.pack("<II", 50, 2) + b"{}",
    struct.pack("<II", 5, 2) + b"[1, 2" + b"[]",
    struct.pack("<II", 35, 3) + b'{"X":{"dtype":"object","shape":[]}}' + b"[0]",
    struct.pack("<II", 47, 3) + b'{"X":{"dtype":"float32","shape":[4],"blob":0}}' + b"[3]" + b"abc",
    struct.pack("<II", 11, 2) + b'{"R":1234}' + b" " + b"[]",
    pickle.dumps({"a": 1}),
], ids=["short", "truncated", "bad json", "bad dtype", "bytes do not fit the shape", "unknown node", "a pickle"])
def test_a_forged_message_is_refused_not_run(forged):
    """Is a malformed, lying or pickled message refused with WireError, before anything of it runs?"""
    with pytest.raises(wire.WireError):
        wire.loads(forged)


def test_a_frame_larger_than_the_limit_is_refused_before_it_is_read():
    """Does the receiver refuse a frame that announces more than MAX_FRAME bytes, without waiting for them?"""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(struct.pack("<Q", wire.MAX_FRAME + 1))
        with pytest.raises(wire.WireError):
            wire.receive(ours)


def test_frames_arrive_whole_and_a_closed_peer_says_so():
    """Does a frame arrive whole, and does a peer that hangs up raise ConnectionError?"""
    ours, theirs = socket.socketpair()
    with ours:
        sender = threading.Thread(target=wire.send, args=(theirs, b"x" * 3_000_000))
        sender.start()
        assert wire.receive(ours) == b"x" * 3_000_000
        sender.join()
        theirs.close()
        with pytest.raises(ConnectionError):
            wire.receive(ours)
