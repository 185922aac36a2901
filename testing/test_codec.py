"""Tests of the wire codec in xdist_c._core (csrc/codec.c)."""

from __future__ import annotations

import collections
import enum
import gc
import importlib.util
import math
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from xdist_c import _core

FrameError = _core.FrameError
HEADER_SIZE = 11

WIRE_KINDS = [
    _core.EV_WORKERREADY,
    _core.EV_COLLECTIONSTART,
    _core.EV_COLLECTREPORT,
    _core.EV_COLLECTIONFINISH,
    _core.EV_LOGSTART,
    _core.EV_TESTREPORT,
    _core.EV_LOGFINISH,
    _core.EV_COMPLETE,
    _core.EV_UNSCHEDULED,
    _core.EV_WARNING,
    _core.EV_WORKERFINISHED,
    _core.EV_INTERNALERROR,
    _core.CMD_RUNTESTS,
    _core.CMD_RUNTESTS_ALL,
    _core.CMD_STEAL,
    _core.CMD_SHUTDOWN,
]
VALUE_TAGS = b"NTFiIdsSrbltm"


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def make_frame(
    body: bytes,
    count: int,
    *,
    magic: bytes = b"XC",
    version: int | None = None,
    body_len: int | None = None,
) -> bytes:
    if version is None:
        version = _core.FORMAT_VERSION
    if body_len is None:
        body_len = len(body)
    return magic + bytes([version]) + struct.pack("<II", count, body_len) + body


def same(a: Any, b: Any) -> bool:
    """Equal, with exact types, float bits (nan, -0.0) and tuple/list kept."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        return all(same(ka, kb) and same(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items()))
    return bool(a == b)


def roundtrip(value: Any) -> Any:
    return _core.loads(_core.dumps(value))


def nested_list(depth: int) -> Any:
    v: Any = None
    for _ in range(depth):
        v = [v]
    return v


def nested_dict(depth: int) -> Any:
    v: Any = 0
    for _ in range(depth):
        v = {"k": v}
    return v


def typical_report() -> dict[str, Any]:
    return {
        "nodeid": "testing/test_example.py::TestThing::test_method[param-3]",
        "location": ("testing/test_example.py", 41, "TestThing.test_method[param-3]"),
        "keywords": {
            "test_method[param-3]": 1,
            "parametrize": 1,
            "pytestmark": 1,
            "param-3": 1,
            "TestThing": 1,
            "test_example.py": 1,
            "testing": 1,
            "wt-codec": 1,
        },
        "outcome": "passed",
        "longrepr": None,
        "when": "call",
        "user_properties": [],
        "sections": [],
        "duration": 0.00012345,
        "start": 1_700_000_000.123456,
        "stop": 1_700_000_000.123579,
        "$report_type": "TestReport",
        "item_index": 3,
        "worker_id": "gw0",
        "testrun_uid": "5b2c2a0d9a8f4e3c8c1d1f2e3a4b5c6d",
    }


# --- constants -------------------------------------------------------------


def test_constants() -> None:
    assert _core.MAX_DEPTH == 200
    assert isinstance(_core.FORMAT_VERSION, int)
    kinds = WIRE_KINDS + [_core.EV_CLOSED, _core.EV_BADFRAME]
    assert len(set(kinds)) == len(kinds)
    assert all(0 <= k < 256 for k in kinds)
    assert issubclass(FrameError, ValueError)
    assert FrameError.__module__ == "xdist_c._core"


# --- values ----------------------------------------------------------------

SCALARS = [
    None,
    True,
    False,
    0,
    1,
    -1,
    63,
    64,
    -64,
    -65,
    127,
    128,
    2**31,
    -(2**31),
    2**63 - 1,
    -(2**63),
    2**63,
    -(2**63) - 1,
    2**64,
    -(2**64),
    10**100,
    -(10**100),
    7**5000,  # > 4300 decimal digits: must not hit int_max_str_digits
    0.0,
    -0.0,
    1.5,
    -2.25,
    float("inf"),
    float("-inf"),
    float("nan"),
    1e308,
    5e-324,
    "",
    "a",
    "héllo wörld",
    "日本語テキスト",
    "\U0001f600 emoji",
    "\x00nul\x00",
    "\ud800",
    "\udfff",
    "a\udcffb",
    "\ud83d\ude00",  # a surrogate *pair* spelled as two lone surrogates
    "x" * 255,
    "x" * 256,
    "é" * 127,
    "é" * 128,
    "long" * 100_000,
    b"",
    b"\x00",
    b"a\x00b\x00",
    bytes(range(256)) * 10,
]


@pytest.mark.parametrize("value", SCALARS, ids=lambda v: repr(v)[:40])
def test_roundtrip_scalars(value: Any) -> None:
    assert same(roundtrip(value), value)


CONTAINERS = [
    [],
    (),
    {},
    [[]],
    ((),),
    [()],
    ([],),
    {"a": {}},
    [1, (2, [3, {"k": (4,)}])],
    # True replaces key 1's value (1 == True): the dict has key 1 -> False.
    {1: 2, (1, 2): "t", None: None, 1.5: b"", "s": [1, "s"], True: False},  # noqa: F601
    {"": ""},
    [None] * 1000,
    list(range(-500, 500)),
    tuple(str(i) for i in range(1000)),
    {str(i): i for i in range(1000)},
]


@pytest.mark.parametrize("value", CONTAINERS, ids=lambda v: repr(v)[:40])
def test_roundtrip_containers(value: Any) -> None:
    assert same(roundtrip(value), value)


def test_roundtrip_report() -> None:
    report = typical_report()
    assert same(roundtrip(report), report)


def test_tuple_and_list_kept_apart() -> None:
    out = roundtrip(([1], (1,), [(1,)], ([1],)))
    assert type(out) is tuple
    assert type(out[0]) is list and type(out[1]) is tuple
    assert type(out[2][0]) is tuple and type(out[3][0]) is list


class Color(enum.IntEnum):
    RED = 1
    BIG = 2**70


class Flag(enum.IntFlag):
    A = 1
    B = 2


class MyStr(str):
    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise AssertionError("the codec must not call __eq__ of a str subclass")


class MyFloat(float):
    pass


class MyList(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise AssertionError("not used")


class MyDict(dict):  # type: ignore[type-arg]
    pass


class MyBytes(bytes):
    pass


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Color.RED, 1),
        (Color.BIG, 2**70),
        (Flag.A | Flag.B, 3),
        (MyStr("abc"), "abc"),
        (MyFloat(2.5), 2.5),
        (MyList([1, 2]), [1, 2]),
        (MyDict(a=1), {"a": 1}),
        (MyBytes(b"xy"), b"xy"),
        (Point(1, 2), (1, 2)),
        (collections.OrderedDict([("a", 1)]), {"a": 1}),
        (collections.defaultdict(list, {"a": [1]}), {"a": [1]}),
        ([MyStr("k"), MyStr("k"), "k"], ["k", "k", "k"]),
        ({MyStr("key"): Color.RED}, {"key": 1}),
    ],
    ids=lambda v: type(v).__name__,
)
def test_subclasses_encode_as_base_type(value: Any, expected: Any) -> None:
    assert same(roundtrip(value), expected)


def test_exit_code_intenum() -> None:
    assert same(roundtrip({"exitstatus": pytest.ExitCode.TESTS_FAILED}), {"exitstatus": 1})


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, frozenset(), bytearray(b"x"), 1j, memoryview(b"x"), len],
    ids=lambda v: type(v).__name__,
)
def test_unsupported_types(value: Any) -> None:
    with pytest.raises(TypeError, match=type(value).__name__):
        _core.dumps(value)
    with pytest.raises(TypeError, match=type(value).__name__):
        _core.dumps({"a": [1, ("x", {"deep": value})]})


def test_depth_limit_on_encode() -> None:
    assert roundtrip(nested_list(_core.MAX_DEPTH)) == nested_list(_core.MAX_DEPTH)
    assert roundtrip(nested_dict(_core.MAX_DEPTH)) == nested_dict(_core.MAX_DEPTH)
    with pytest.raises(ValueError, match="nested"):
        _core.dumps(nested_list(_core.MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="nested"):
        _core.dumps(nested_dict(_core.MAX_DEPTH + 1))
    recursive: list[Any] = []
    recursive.append(recursive)
    with pytest.raises(ValueError, match="nested"):
        _core.dumps(recursive)


def test_depth_limit_on_decode() -> None:
    ok = b"l\x01" * _core.MAX_DEPTH + b"N"
    assert _core.loads(ok) == nested_list(_core.MAX_DEPTH)
    for opener in (b"l\x01", b"t\x01", b"m\x01N"):
        with pytest.raises(FrameError, match="nested"):
            _core.loads(opener * (_core.MAX_DEPTH + 1) + b"N")
    # very deep input fails fast, without C recursion trouble
    with pytest.raises(FrameError):
        _core.loads(b"l\x01" * 1_000_000)


# --- string back-references ------------------------------------------------


def test_backref_returns_same_object() -> None:
    s = "testing/test_x.py::test_y"
    t = "".join(["testing/", "test_x.py::test_y"])  # equal, not identical
    assert t is not s
    out = roundtrip([s, t, s, (s, {s: s})])
    assert out[0] == s
    assert out[0] is out[1] is out[2] is out[3][0]
    (key,) = out[3][1]
    assert key is out[0] and out[3][1][key] is out[0]


def test_backref_dict_keys_shared() -> None:
    reports = [typical_report() for _ in range(3)]
    out = roundtrip(reports)
    keys = [list(r) for r in out]
    for a, b in zip(keys[0], keys[1]):
        assert a is b


def test_backref_makes_repeats_cheap() -> None:
    s = "x" * 50
    encoded = _core.dumps([s] * 100)
    assert len(encoded) < 50 + 100 * 3 + 10
    assert _core.loads(encoded) == [s] * 100


def test_long_strings_not_tabled() -> None:
    s = "y" * 300
    assert roundtrip([s, s]) == [s, s]
    assert len(_core.dumps([s, s])) > 600


def test_string_table_bound() -> None:
    strs = [str(i) for i in range(70_000)]
    value = strs + strs[:10] + strs[-10:]
    out = roundtrip(value)
    assert out == value
    assert out[70_000] is out[0]
    assert out[-1] == strs[-1]


def test_surrogate_strings_back_referenced() -> None:
    s = "lone \ud800 surrogate"
    out = roundtrip([s, s])
    assert out == [s, s] and out[0] is out[1]


def test_short_ascii_strs_shared_across_frames() -> None:
    """A test's file path, outcome, phase, worker id... decoded from
    different frames are one object (the terminal reporter keeps every
    report: copies would live to the end of the session)."""
    values = ["test_mod.py", "passed", "gw0", "x" * 64]
    first = _core.decode_frame(_core.encode_frame([(_core.EV_LOGSTART, list(values))]))[0][1]
    again = _core.decode_frame(_core.encode_frame([(_core.EV_LOGSTART, list(values))]))[0][1]
    assert again == first == values
    assert all(a is b for a, b in zip(first, again))
    assert _core.loads(_core.dumps("passed")) is first[1]
    # not shared: longer than 64 bytes, not ASCII (still decoded right)
    for text in ("y" * 65, "caf\u00e9", "lone \ud800"):
        a, b = _core.loads(_core.dumps(text)), _core.loads(_core.dumps(text))
        assert a == b == text and a is not b


def test_str_cache_collisions_decode_right() -> None:
    """Thousands of distinct short strings through the 1024-slot cache
    (every slot replaced many times) still decode to themselves."""
    texts = [f"t{i}" for i in range(5000)] + ["", "a", "b" * 64]
    for _ in range(2):
        for text in texts:
            assert _core.loads(_core.dumps([text, text])) == [text, text]
    out = _core.decode_frame(_core.encode_frame([(_core.EV_UNSCHEDULED, texts)]))
    assert out[0][1] == texts


def _str_cache_set(text: str) -> int:
    """The set of the decoder's str cache that ``text`` maps to (FNV-1a of
    its bytes, as codec.c computes it; 512 sets of two slots)."""
    h = 2166136261
    for byte in text.encode("ascii"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h & 511


def _same_set(count: int, prefix: str) -> list[str]:
    by_set: dict[int, list[str]] = collections.defaultdict(list)
    i = 0
    while True:
        text = f"{prefix}{i}"
        group = by_set[_str_cache_set(text)]
        group.append(text)
        if len(group) == count:
            return group
        i += 1


def test_str_cache_keeps_two_values_of_one_set() -> None:
    """Two values that map to the same place, decoded in turn frame after
    frame (a report's phase and another value of every test), both stay
    shared; a third one of that set pushes out the one used least
    recently, and every value still decodes to itself."""
    a, b, c = _same_set(3, "phase")

    def decode(text: str) -> str:
        out = _core.decode_frame(_core.encode_frame([(_core.EV_LOGSTART, [text])]))
        return out[0][1][0]

    first_a, first_b = decode(a), decode(b)
    for _ in range(3):
        assert decode(a) is first_a
        assert decode(b) is first_b
    assert decode(c) == c  # the set is now (c, b): a goes
    assert decode(b) is first_b
    again_a = decode(a)
    assert again_a == a and again_a is not first_a
    assert decode(b) is first_b  # (a, b) again


def test_repeated_int_shared_across_frames() -> None:
    """A test's reports carry the same item_index, each in its own frame
    or dict: the same int past CPython's small ints, decoded again, is the
    same object; other values are decoded right."""

    def decode(value: int) -> int:
        out = _core.decode_frame(_core.encode_frame([(_core.EV_COMPLETE, [value])]))
        return out[0][1][0]

    for value in (257, 12_345, -6, -(2**63), 2**63 - 1):
        first = decode(value)
        assert first == value and type(first) is int
        assert decode(value) is first
    assert decode(258) == 258 and decode(257) == 257
    assert decode(2**63) == 2**63 and decode(-(2**63) - 1) == -(2**63) - 1
    assert decode(True) is True and decode(0) == 0 and decode(-5) == -5
    out = _core.loads(_core.dumps([1000, 1000, 1001, 1000]))
    assert out == [1000, 1000, 1001, 1000] and out[0] is out[1]


def test_repeated_location_tuple_shared_in_a_frame() -> None:
    nodeid, location = "t.py::test_a", ("t.py", 3, "test_a")
    events = [(_core.EV_LOGSTART, (nodeid, location))]
    events += [(_core.EV_TESTREPORT, {"location": location, "when": w}) for w in ("setup", "call", "teardown")]
    events += [(_core.EV_LOGFINISH, (nodeid, location))]
    out = _core.decode_frame(_core.encode_frame(events))
    assert same(out, events)
    locations = [out[0][1][1]] + [p["location"] for _, p in out[1:4]] + [out[4][1][1]]
    assert all(loc == location for loc in locations)
    # the first copy brings the strings; every later one is the second
    assert locations[1] is locations[2] is locations[3] is locations[4]


def test_tuples_with_containers_never_shared() -> None:
    t = ("a", [1])
    out = roundtrip([t, t, t])
    assert out == [t, t, t]
    assert out[1] is not out[2] and out[1][1] is not out[2][1]
    out[1][1].append(2)
    assert out[2] == t


def test_tuple_reuse_keeps_string_table_in_step() -> None:
    """Equal bytes are reused only when they added nothing to the string
    table: a tuple whose strs are new is decoded in full."""
    a, b = ("s1", 1), ("s2", 1)
    value = [a, a, b, b, a, ("s1", "s2"), ("s1", "s2"), "s2", b, a]
    assert same(roundtrip(value), value)


@given(
    st.lists(
        st.sampled_from([("a", 1), ("b", 1), ("a", 2), (), ("a",), (1.5, None, True)]) | st.text("ab", max_size=2),
        max_size=30,
    )
)
@settings(max_examples=300)
def test_hypothesis_repeated_tuples(value: list[Any]) -> None:
    assert same(roundtrip(value), value)
    frame = _core.encode_frame([(_core.EV_UNSCHEDULED, value), (_core.EV_UNSCHEDULED, value)])
    assert same(_core.decode_frame(frame), [(_core.EV_UNSCHEDULED, value)] * 2)


# --- frames ----------------------------------------------------------------


def test_frame_all_kinds_roundtrip() -> None:
    events = [(k, {"kind": k, "payload": [k, str(k)]}) for k in WIRE_KINDS]
    frame = _core.encode_frame(events)
    assert frame[:2] == b"XC"
    assert frame[2] == _core.FORMAT_VERSION
    out = _core.decode_frame(frame)
    assert out == events
    assert all(type(ev) is tuple for ev in out)


def test_frame_typical_payloads() -> None:
    report = typical_report()
    events = [
        (_core.EV_LOGSTART, (report["nodeid"], report["location"])),
        (_core.EV_TESTREPORT, report),
        (_core.EV_LOGFINISH, (report["nodeid"], report["location"])),
        (_core.EV_COMPLETE, (3, 0.0123)),
        (_core.CMD_RUNTESTS, [1, 2, 3]),
        (_core.CMD_SHUTDOWN, None),
    ]
    out = _core.decode_frame(_core.encode_frame(events))
    assert same(out, events)
    # the string table spans the whole frame
    assert out[0][1][0] is out[1][1]["nodeid"] is out[2][1][0]


def test_frame_inputs() -> None:
    assert _core.decode_frame(_core.encode_frame([])) == []
    gen = ((k, None) for k in (_core.EV_COLLECTIONSTART, _core.CMD_SHUTDOWN))
    frame = _core.encode_frame(gen)
    assert _core.decode_frame(frame) == [(1, None), (35, None)]
    assert _core.decode_frame(bytearray(frame)) == [(1, None), (35, None)]
    assert _core.decode_frame(memoryview(frame)) == [(1, None), (35, None)]
    assert _core.encode_frame([[_core.EV_COMPLETE, 1]]) == _core.encode_frame([(_core.EV_COMPLETE, 1)])
    assert _core.encode_frame([(Color.RED, 1)]) == _core.encode_frame([(1, 1)])
    assert _core.loads(bytearray(_core.dumps([1]))) == [1]


@pytest.mark.parametrize("kind", [_core.EV_CLOSED, _core.EV_BADFRAME, 12, 31, 38, 63, 255, -1, 2**70])
def test_encode_frame_rejects_bad_kinds(kind: int) -> None:
    with pytest.raises(ValueError, match="event kind"):
        _core.encode_frame([(kind, None)])
    w = _core.FrameWriter()
    with pytest.raises(ValueError, match="event kind"):
        w.add(kind, None)


def test_encode_frame_rejects_bad_items() -> None:
    with pytest.raises(TypeError):
        _core.encode_frame(5)
    with pytest.raises(TypeError, match="pairs"):
        _core.encode_frame([(1, 2, 3)])
    with pytest.raises(TypeError, match="pairs"):
        _core.encode_frame([1])
    with pytest.raises(TypeError, match="kind must be int"):
        _core.encode_frame([("1", None)])

    def broken() -> Any:
        yield (1, None)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _core.encode_frame(broken())


# --- malformed input --------------------------------------------------------


def test_truncated_frame_at_every_offset() -> None:
    report = typical_report()
    frame = _core.encode_frame(
        [(_core.EV_TESTREPORT, report), (_core.EV_COMPLETE, (3, 0.5)), (_core.CMD_STEAL, [2**80])]
    )
    for i in range(len(frame)):
        with pytest.raises(FrameError):
            _core.decode_frame(frame[:i])
    with pytest.raises(FrameError, match="trailing"):
        _core.decode_frame(frame + b"\x00")


def test_truncated_value_at_every_offset() -> None:
    value = [typical_report(), 2**100, -(2**100), 1.5, b"bytes", "é" * 300, ("t",)]
    data = _core.dumps(value)
    for i in range(len(data)):
        with pytest.raises(FrameError):
            _core.loads(data[:i])
    with pytest.raises(FrameError, match="trailing"):
        _core.loads(data + b"N")


def test_bad_header() -> None:
    frame = _core.encode_frame([(_core.EV_COMPLETE, (1, 0.5))])
    with pytest.raises(FrameError, match="magic"):
        _core.decode_frame(b"XD" + frame[2:])
    with pytest.raises(FrameError, match="magic"):
        _core.decode_frame(b"x")
    with pytest.raises(FrameError, match="magic"):
        _core.decode_frame(b"\x80\x04\x95")  # a pickle
    with pytest.raises(FrameError, match="truncated"):
        _core.decode_frame(b"")
    for version in (0, _core.FORMAT_VERSION + 1, 255):
        bad = frame[:2] + bytes([version]) + frame[3:]
        with pytest.raises(FrameError, match="different xdist_c versions"):
            _core.decode_frame(bad)
    # count does not match the events present
    body = frame[HEADER_SIZE:]
    with pytest.raises(FrameError):
        _core.decode_frame(make_frame(body, 2))
    with pytest.raises(FrameError, match="trailing"):
        _core.decode_frame(make_frame(body, 0))
    with pytest.raises(FrameError):
        _core.decode_frame(make_frame(body + b"\x07N", 1))
    # declared sizes that do not fit
    with pytest.raises(FrameError, match="body"):
        _core.decode_frame(make_frame(body, 1, body_len=2**32 - 1))
    with pytest.raises(FrameError, match="body"):
        _core.decode_frame(make_frame(body, 1, body_len=len(body) - 1))
    with pytest.raises(FrameError, match="events"):
        _core.decode_frame(make_frame(body, 2**32 - 1))


@pytest.mark.parametrize("kind", [12, 13, 31, 38, 63, _core.EV_CLOSED, _core.EV_BADFRAME, 128, 255])
def test_unknown_kind_in_frame(kind: int) -> None:
    with pytest.raises(FrameError, match="event kind"):
        _core.decode_frame(make_frame(bytes([kind]) + b"N", 1))
    good = bytes([_core.EV_COMPLETE]) + b"N"
    with pytest.raises(FrameError, match="event kind"):
        _core.decode_frame(make_frame(good + bytes([kind]) + b"N", 2))


@pytest.mark.parametrize(
    "data",
    [
        # huge declared lengths with little data left
        b"S" + uvarint(2**32 - 1) + b"x" * 10,
        b"S" + uvarint(2**64 - 1) + b"x" * 10,
        b"b" + uvarint(2**32 - 1) + b"x" * 10,
        b"b" + uvarint(11),
        b"I" + uvarint(2**40) + b"1",
        b"s\xff" + b"x" * 10,
        b"l" + uvarint(10**9) + b"NNNNN",
        b"t" + uvarint(10**9) + b"NNNNN",
        b"m" + uvarint(10**9) + b"NNNNN",
        b"m" + uvarint(3) + b"NNNNN",  # 3 pairs need >= 6 bytes
        b"l" + uvarint(2**64 - 1),
        # varints over 64 bits
        b"i" + b"\xff" * 9 + b"\x02",
        b"i" + b"\x80" * 11,
        b"i" + b"\xff" * 20,
        # bad back-references
        b"r\x00",
        b"l\x02s\x01ar\x01",
        b"r" + uvarint(2**63),
        # invalid UTF-8
        b"s\x01\xff",
        b"s\x02\xc3\x28",
        b"s\x02\xc0\xaf",
        b"s\x04\xf8\x88\x80\x80",
        b"S" + uvarint(300) + b"\xff" * 300,
        # malformed big ints
        b"I\x00",
        b"I\x01-",
        b"I\x02zz",
        b"I\x020x",
        b"I\x02 1",
        b"I\x03+1f",
        b"I\x021_",
        b"I\x02AB",
        b"I\x03--1",
        # unhashable dict keys
        b"m\x01l\x00N",
        b"m\x01t\x01m\x00NN",
        # truncated fixed-size values
        b"d\x00\x00\x00",
        b"",
    ],
)
def test_malformed_values(data: bytes) -> None:
    with pytest.raises(FrameError):
        _core.loads(data)
    with pytest.raises(FrameError):
        _core.decode_frame(make_frame(bytes([_core.EV_TESTREPORT]) + data, 1))


@pytest.mark.parametrize("tag", sorted(set(range(256)) - set(VALUE_TAGS)))
def test_bad_tags(tag: int) -> None:
    with pytest.raises(FrameError, match="tag"):
        _core.loads(bytes([tag]) + b"\x00" * 4)


def test_loads_needs_a_buffer() -> None:
    with pytest.raises(TypeError):
        _core.loads("N")
    with pytest.raises(TypeError):
        _core.decode_frame(None)


# --- FrameWriter ------------------------------------------------------------


def test_framewriter_basics() -> None:
    w = _core.FrameWriter()
    assert len(w) == 0 and w.nbytes == 0
    assert _core.decode_frame(w.take()) == []
    w.add(_core.EV_LOGSTART, ("a::b", ("a", 1, "b")))
    n1 = w.nbytes
    assert len(w) == 1 and n1 > 0
    w.add(_core.EV_COMPLETE, (1, 0.5))
    assert len(w) == 2 and w.nbytes > n1
    n2 = w.nbytes
    frame = w.take()
    assert len(frame) == HEADER_SIZE + n2
    assert len(w) == 0 and w.nbytes == 0
    events = [(_core.EV_LOGSTART, ("a::b", ("a", 1, "b"))), (_core.EV_COMPLETE, (1, 0.5))]
    assert _core.decode_frame(frame) == events
    assert frame == _core.encode_frame(events)
    # a new frame after take(): its own string table
    w.add(_core.EV_LOGSTART, ("a::b", ("a", 1, "b")))
    second = w.take()
    assert _core.decode_frame(second) == events[:1]
    assert second == _core.encode_frame(events[:1])


def test_framewriter_nbytes_matches_frame() -> None:
    w = _core.FrameWriter()
    for i in range(100):
        w.add(_core.EV_TESTREPORT, dict(typical_report(), item_index=i))
    nbytes = w.nbytes
    frame = w.take()
    assert len(frame) == HEADER_SIZE + nbytes
    assert len(_core.decode_frame(frame)) == 100


def test_framewriter_rollback() -> None:
    w = _core.FrameWriter()
    w.add(_core.EV_TESTREPORT, {"keep": "a", "shared": "s"})
    nbytes = w.nbytes
    bad_payloads = [
        {"new1": "v", "keep": 1, "shared": "s", "deep": [[{"x": object()}]]},
        {"new2": nested_list(_core.MAX_DEPTH + 1)},
        ["new3", "new4", {"new5"}],
    ]
    for bad in bad_payloads:
        with pytest.raises((TypeError, ValueError)):
            w.add(_core.EV_TESTREPORT, bad)
        assert len(w) == 1 and w.nbytes == nbytes
    with pytest.raises(ValueError):
        w.add(99, "new6")
    assert len(w) == 1 and w.nbytes == nbytes
    # strings first written by a failed add() are written again in full
    w.add(_core.EV_TESTREPORT, {"new1": "v", "new3": "shared", "keep": "new5"})
    events = [
        (_core.EV_TESTREPORT, {"keep": "a", "shared": "s"}),
        (_core.EV_TESTREPORT, {"new1": "v", "new3": "shared", "keep": "new5"}),
    ]
    frame = w.take()
    assert _core.decode_frame(frame) == events
    assert frame == _core.encode_frame(events)


def test_framewriter_rollback_after_many_strings() -> None:
    w = _core.FrameWriter()
    w.add(_core.EV_COLLECTIONFINISH, {"ids": [f"t{i}" for i in range(1000)]})
    with pytest.raises(TypeError):
        w.add(_core.EV_COLLECTIONFINISH, {"ids": [f"u{i}" for i in range(5000)] + [set()]})
    w.add(_core.EV_COLLECTIONFINISH, {"ids": [f"u{i}" for i in range(3)] + ["t999"]})
    out = _core.decode_frame(w.take())
    assert out[1][1]["ids"] == ["u0", "u1", "u2", "t999"]
    assert out[1][1]["ids"][3] is out[0][1]["ids"][999]
    # the grown table is reused, empty, by the next frame
    ids = [f"v{i}" for i in range(3000)]
    w.add(_core.EV_COLLECTIONFINISH, {"ids": ids + ["t999"] + ids[::-1]})
    out = _core.decode_frame(w.take())
    got = out[0][1]["ids"]
    assert got == ids + ["t999"] + ids[::-1]
    assert got[0] is got[-1] and got[2999] is got[3001]


def test_framewriter_signature() -> None:
    with pytest.raises(TypeError):
        _core.FrameWriter(1)  # type: ignore[call-arg]
    w = _core.FrameWriter()
    with pytest.raises(TypeError):
        w.add(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        w.add(1, 2, 3)  # type: ignore[call-arg]
    assert not w
    w.add(1, None)
    assert w


# --- hypothesis -------------------------------------------------------------

surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
texts = st.lists(st.one_of(st.characters(), surrogates), max_size=20).map("".join)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.text(alphabet="ab", max_size=3),  # repeated strings: back-references
    st.binary(max_size=40),
)
keys = st.one_of(
    st.none(),
    st.integers(),
    texts,
    st.text(alphabet="ab", max_size=3),
    st.binary(max_size=10),
    st.tuples(st.integers(), texts),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=6).map(tuple),
        st.dictionaries(keys, children, max_size=6),
    ),
    max_leaves=40,
)


@given(values)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_hypothesis_roundtrip(value: Any) -> None:
    assert same(roundtrip(value), value)


@given(st.lists(st.tuples(st.sampled_from(WIRE_KINDS), values), max_size=5))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_hypothesis_frame_roundtrip(events: list[tuple[int, Any]]) -> None:
    frame = _core.encode_frame(events)
    assert same(_core.decode_frame(frame), events)
    w = _core.FrameWriter()
    for kind, payload in events:
        w.add(kind, payload)
    assert w.take() == frame


@given(st.binary(max_size=200))
@settings(max_examples=1000)
def test_hypothesis_random_bytes(data: bytes) -> None:
    try:
        _core.loads(data)
    except FrameError:
        pass
    try:
        _core.decode_frame(data)
    except FrameError:
        pass
    try:
        _core.decode_frame(make_frame(data, len(data) // 3))
    except FrameError:
        pass


@given(st.binary(min_size=1, max_size=60), st.data())
@settings(max_examples=500)
def test_hypothesis_valid_prefix(noise: bytes, data: st.DataObject) -> None:
    """Valid bytes with random bytes spliced in somewhere."""
    body = _core.dumps(typical_report())
    at = data.draw(st.integers(0, len(body)))
    mutated = body[:at] + noise + body[at + data.draw(st.integers(0, 3)) :]
    for attempt in (
        lambda: _core.loads(mutated),
        lambda: _core.decode_frame(make_frame(b"\x05" + mutated, 1)),
    ):
        try:
            attempt()
        except FrameError:
            pass


# --- dict keys ---------------------------------------------------------------


def test_decoded_dict_keys_are_interned() -> None:
    key = "".join(["report_", "field"])  # built at run time: not interned
    value = "".join(["report_", "value"])
    ((decoded_key, decoded_value),) = _core.loads(_core.dumps({key: value})).items()
    assert decoded_key == key and decoded_key is sys.intern(key)
    # ... and the same object every time, frame after frame
    again = _core.decode_frame(_core.encode_frame([(_core.EV_TESTREPORT, {key: 1})]))
    assert next(iter(again[0][1])) is decoded_key
    # values are not interned
    assert decoded_value is not sys.intern(value)


def test_key_cache_is_bounded(tmp_path: Any) -> None:
    # Test names are keys too (a report's keywords): past a limit, new keys
    # are decoded as plain strings instead of growing the cache.  In a fresh
    # interpreter: filling this one's cache would change other tests.
    code = textwrap.dedent(
        """
        import sys
        from xdist_c import _core
        _core.loads(_core.dumps({f"cache_filler_{i}": 1 for i in range(5000)}))
        late = "".join(["not_cached_", "key"])
        (decoded,) = _core.loads(_core.dumps({late: 1}))
        assert decoded == late
        assert decoded is not sys.intern(late), "a key past the limit was cached"
        early = "".join(["cache_filler_", "7"])
        (decoded,) = _core.loads(_core.dumps({early: 1}))
        assert decoded is sys.intern(early), "a cached key was not reused"
        """
    )
    # (not from the checkout, whose xdist_c/ has no built extension)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


# --- leaks and module init ---------------------------------------------------


def _growth(fn: Any, loops: int) -> tuple[int, int]:
    for _ in range(100):
        fn()
    gc.collect()
    nobjs = len(gc.get_objects())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(loops):
            fn()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return len(gc.get_objects()) - nobjs, after - before


def test_no_leaks_roundtrip() -> None:
    key = "item_index_key_xyz"
    big = 10**30
    tup = ("interned", "tuple")
    report = dict(typical_report(), **{key: big}, t=tup)
    events = [(_core.EV_TESTREPORT, report), (_core.EV_COMPLETE, (3, 0.5))]
    w = _core.FrameWriter()

    def work() -> None:
        _core.loads(_core.dumps(report))
        _core.decode_frame(_core.encode_frame(events))
        w.add(_core.EV_TESTREPORT, report)
        try:
            w.add(_core.EV_TESTREPORT, {"x": [object()]})
        except TypeError:
            pass
        _core.decode_frame(w.take())

    # The first decode puts ``key`` (an interned literal) in the decoder's
    # key cache, which keeps one reference to it; after that, nothing may
    # change.
    work()
    refs = [sys.getrefcount(o) for o in (key, big, tup, report)]
    nobjs, nbytes = _growth(work, 10_000)
    assert [sys.getrefcount(o) for o in (key, big, tup, report)] == refs
    assert nobjs < 100
    assert nbytes < 64 * 1024


def test_no_leaks_errors() -> None:
    frame = _core.encode_frame([(_core.EV_TESTREPORT, typical_report())])
    bad = [frame[:i] for i in range(0, len(frame), 7)] + [
        b"l\x03s\x01ar\x00s\x01\xff",
        b"m\x02s\x01aNs\x01bl\x00",
        b"l" * 300,
        b"I\x02zz",
    ]

    def work() -> None:
        for data in bad:
            try:
                _core.decode_frame(data)
            except FrameError:
                pass
            try:
                _core.loads(data)
            except FrameError:
                pass
        try:
            _core.dumps({"a": ["b", {1, 2}]})
        except TypeError:
            pass

    nobjs, nbytes = _growth(work, 2_000)
    assert nobjs < 100
    assert nbytes < 64 * 1024


def test_multiphase_init() -> None:
    name = "xdist_c._core"
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    saved = sys.modules.pop(name)
    try:
        fresh = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fresh)
    finally:
        sys.modules[name] = saved
    assert fresh is not _core
    assert fresh.FrameError is not _core.FrameError
    assert fresh.FrameWriter is not _core.FrameWriter
    assert fresh.loads(_core.dumps([1, "a"])) == [1, "a"]
    # each module raises its own FrameError (per-module state)
    with pytest.raises(fresh.FrameError):
        fresh.loads(b"")
    with pytest.raises(fresh.FrameError):
        fresh.decode_frame(b"XC")
    p = fresh.Pump()
    p.feeder(1)(b"garbage")
    assert p.get(0)[0][:2] == (1, fresh.EV_BADFRAME)
    w = fresh.FrameWriter()
    w.add(fresh.EV_COMPLETE, (1, 0.5))
    assert _core.decode_frame(w.take()) == [(fresh.EV_COMPLETE, (1, 0.5))]
    del fresh, p, w
    gc.collect()


def test_keyword_arguments_as_in_the_stub() -> None:
    import inspect

    assert _core.loads(data=_core.dumps(value=[1])) == [1]
    frame = _core.encode_frame(events=[(1, None)])
    assert _core.decode_frame(data=frame) == [(1, None)]
    w = _core.FrameWriter()
    w.add(kind=1, payload=None)
    w.add(1, payload=None)
    assert w.take() == _core.encode_frame([(1, None), (1, None)])
    assert str(inspect.signature(_core.dumps)) == "(value)"
    assert str(inspect.signature(_core.FrameWriter.add)) == "(self, /, kind, payload)"
    with pytest.raises(TypeError, match="unexpected keyword"):
        _core.dumps(obj=1)
    with pytest.raises(TypeError, match="multiple values"):
        w.add(1, kind=1)
    with pytest.raises(TypeError, match="missing required argument 'payload'"):
        w.add(kind=1)
    with pytest.raises(TypeError, match="at most"):
        _core.loads(b"N", b"N")
    with pytest.raises(TypeError, match="missing"):
        _core.loads()
