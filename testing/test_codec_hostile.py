"""Property tests of the decoder (csrc/codec.c) on hostile input.

test_codec.py already feeds it random bytes, noise spliced into a valid
value, every truncation of one frame and a fixed list of malformed values.
These add, as properties over generated frames and values: truncation at
any offset, concatenated frames and values, byte flips behind a header that
still fits, huge declared lengths and counts, invalid UTF-8 after valid
string-table entries, and nesting of mixed containers around MAX_DEPTH.
Each input must give a value or a FrameError -- never another exception,
a crash, a large allocation, or a leak (every input is decoded again a
few times and the interpreter's allocated blocks must not grow).
"""

from __future__ import annotations

import struct
import sys
import tracemalloc
from typing import Any
from typing import Callable

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from test_codec import uvarint  # the wire's varint, written by hand
from xdist_c import _core

FrameError = _core.FrameError
HEADER = 11
MAX_DEPTH = _core.MAX_DEPTH
KINDS = [
    getattr(_core, name)
    for name in dir(_core)
    if name.startswith(("EV_", "CMD_")) and name not in ("EV_CLOSED", "EV_BADFRAME")
]


def frame_of(body: bytes, count: int, body_len: int | None = None) -> bytes:
    size = len(body) if body_len is None else body_len
    return b"XC" + bytes([_core.FORMAT_VERSION]) + struct.pack("<II", count, size) + body


def attempt(fn: Callable[[Any], Any], data: Any) -> Any:
    """fn(data), or None after a FrameError; anything else propagates."""
    try:
        return fn(data)
    except FrameError:
        return None


def decode_both(data: bytes) -> tuple[Any, Any]:
    return attempt(_core.decode_frame, data), attempt(_core.loads, data)


def assert_no_leak(data: bytes) -> None:
    """Decoding `data` again and again allocates nothing that stays.

    (Warm once, then 30 more rounds of 2 decodes: a leak of one object or
    buffer per call shows as >= 60 blocks; the slack is for caches and
    free lists.  Under PYTHONMALLOC=malloc, as in the sanitizer run, the
    count is always 0 and this checks nothing.)

    The count is the whole process's: while it is taken, no other thread
    (the test worker's execnet and relay threads) gets the GIL to allocate,
    which once put 41 blocks into a clean count."""
    decode_both(data)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        before = sys.getallocatedblocks()
        for _ in range(30):
            decode_both(data)
        grew = sys.getallocatedblocks() - before
    finally:
        sys.setswitchinterval(interval)
    assert grew < 30


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["nodeid", "outcome", "when", "passed", "é" * 200, "x" * 300]),
    st.binary(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=12,
)
events = st.lists(st.tuples(st.sampled_from(KINDS), values), min_size=1, max_size=3)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- truncation and concatenation ------------------------------------------


@SETTINGS
@given(events, st.data())
def test_truncated_frame(evs: list[tuple[int, Any]], data: st.DataObject) -> None:
    frame = _core.encode_frame(evs)
    cut = data.draw(st.integers(0, len(frame) - 1))
    tail = data.draw(st.binary(max_size=8))
    with pytest.raises(FrameError):
        _core.decode_frame(frame[:cut])
    # the header still claiming the full length, garbage after the cut
    decode_both(frame[:cut] + tail)
    # a header repaired to the cut length: the events stop short
    body = frame[HEADER:cut] if cut > HEADER else b""
    with pytest.raises(FrameError):
        _core.decode_frame(frame_of(body, len(evs)))
    assert_no_leak(frame[:cut])
    assert_no_leak(frame_of(body, len(evs)))


@SETTINGS
@given(st.lists(events, min_size=2, max_size=3))
def test_concatenated_frames(frames: list[list[tuple[int, Any]]]) -> None:
    """Two frames in one message are malformed, never silently half-read:
    the header's body length covers exactly one."""
    joined = b"".join(_core.encode_frame(evs) for evs in frames)
    with pytest.raises(FrameError, match="trailing"):
        _core.decode_frame(joined)
    pump = _core.Pump()
    pump.feeder(3)(joined)
    out = pump.get(0)
    assert len(out) == 1 and out[0][:2] == (3, _core.EV_BADFRAME)
    # the bodies under one header: each body's string back-references
    # index its own frame's table, so this decodes to something else or
    # fails -- but only ever to `count` events or a FrameError
    bodies = b"".join(_core.encode_frame(evs)[HEADER:] for evs in frames)
    count = sum(len(evs) for evs in frames)
    result = attempt(_core.decode_frame, frame_of(bodies, count))
    assert result is None or len(result) == count
    with pytest.raises(FrameError):
        _core.decode_frame(frame_of(bodies, count - 1))
    assert_no_leak(joined)


@SETTINGS
@given(st.lists(values, min_size=2, max_size=4))
def test_concatenated_values(vals: list[Any]) -> None:
    data = b"".join(_core.dumps(v) for v in vals)
    with pytest.raises(FrameError, match="trailing"):
        _core.loads(data)
    assert_no_leak(data)


@SETTINGS
@given(events, st.data())
def test_byte_flips_behind_a_fitting_header(evs: list[tuple[int, Any]], data: st.DataObject) -> None:
    """Random bytes changed in the body of a frame whose header still
    matches its length, so decoding gets past the header."""
    frame = bytearray(_core.encode_frame(evs))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(HEADER, len(frame) - 1))
        frame[at] = data.draw(st.integers(0, 255))
    mutated = bytes(frame)
    result = attempt(_core.decode_frame, mutated)
    if result is not None:
        # whatever decodes encodes again, to something that decodes alike
        again = _core.encode_frame(result)
        assert _core.encode_frame(_core.decode_frame(again)) == again
    attempt(_core.loads, mutated[HEADER + 1 :])
    assert_no_leak(mutated)


# --- huge declared sizes --------------------------------------------------


huge = st.one_of(
    st.integers(2**20, 2**32),
    st.integers(2**32, 2**64 - 1),
    st.sampled_from([2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1]),
)


@SETTINGS
@given(st.sampled_from(b"SbIltmr"), huge, st.binary(max_size=64))
def test_huge_declared_length(tag: int, n: int, tail: bytes) -> None:
    """A length or count far beyond the bytes present fails before
    anything of that size is allocated."""
    data = bytes([tag]) + uvarint(n) + tail
    tracemalloc.start()
    try:
        with pytest.raises(FrameError):
            _core.loads(data)
        with pytest.raises(FrameError):
            _core.decode_frame(frame_of(bytes([_core.EV_TESTREPORT]) + data, 1))
        with pytest.raises(FrameError):
            _core.loads(b"l\x02N" + data)  # inside a container
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024
    assert_no_leak(data)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=64))
def test_huge_header_fields(count: int, body_len: int, body: bytes) -> None:
    data = frame_of(body, count, body_len)
    result = attempt(_core.decode_frame, data)
    if body_len != len(body) or count > len(body) // 2:
        assert result is None
    assert_no_leak(data)


# --- invalid UTF-8 ---------------------------------------------------------


def invalid_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return True
    return False


bad_utf8 = st.one_of(
    st.binary(min_size=1, max_size=300).filter(invalid_utf8),
    st.sampled_from(
        [b"\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xed\xa0"]
    ).flatmap(
        lambda b: st.tuples(st.text(max_size=20), st.text(max_size=20)).map(lambda t: t[0].encode() + b + t[1].encode())
    ),
)


@SETTINGS
@given(bad_utf8, st.lists(st.text(min_size=1, max_size=10), max_size=70), st.booleans())
def test_invalid_utf8(bad: bytes, before: list[str], long_form: bool) -> None:
    """Invalid UTF-8 after valid strings (which entered the decoder's
    string table, maybe past its inline size) is a FrameError, and the
    table's references are released."""
    if long_form or len(bad) > 255:
        s = b"S" + uvarint(len(bad)) + bad
    else:
        s = b"s" + bytes([len(bad)]) + bad
    head = b"".join(_core.dumps(x) for x in before)
    data = b"l" + uvarint(len(before) + 1) + head + s
    with pytest.raises(FrameError, match="UTF-8"):
        _core.loads(data)
    with pytest.raises(FrameError, match="UTF-8"):
        _core.decode_frame(frame_of(bytes([_core.EV_INTERNALERROR]) + data, 1))
    assert_no_leak(data)


# --- nesting -----------------------------------------------------------------


openers = {"l": b"l\x01", "t": b"t\x01", "m": b"m\x01N"}


@SETTINGS
@given(
    st.integers(MAX_DEPTH - 3, MAX_DEPTH + 40),
    st.text(alphabet="ltm", min_size=1, max_size=8),
    st.sampled_from([b"N", b"i\x02", b"s\x01x", b"l\x00", b"m\x00"]),
)
def test_deep_nesting(depth: int, pattern: str, leaf: bytes) -> None:
    """Mixed lists, tuples and dicts: up to MAX_DEPTH containers decode,
    one more is a FrameError (as a value and as an event payload)."""
    data = b"".join(openers[pattern[i % len(pattern)]] for i in range(depth)) + leaf
    # an empty container as the leaf is one level more
    levels = depth + (leaf in (b"l\x00", b"m\x00"))
    payload = frame_of(bytes([_core.EV_TESTREPORT]) + data, 1)
    if levels <= MAX_DEPTH:
        value = _core.loads(data)
        assert _core.decode_frame(payload) == [(_core.EV_TESTREPORT, value)]
        assert _core.dumps(value) == data
    else:
        with pytest.raises(FrameError, match="nested"):
            _core.loads(data)
        with pytest.raises(FrameError, match="nested"):
            _core.decode_frame(payload)
    assert_no_leak(data)


@settings(max_examples=20, deadline=None)
@given(st.text(alphabet="ltm", min_size=1, max_size=5), st.integers(10**4, 10**6))
def test_very_deep_nesting_fails_fast(pattern: str, depth: int) -> None:
    unit = b"".join(openers[c] for c in pattern)
    data = unit * (depth // len(pattern))
    with pytest.raises(FrameError, match="nested"):
        _core.loads(data)
