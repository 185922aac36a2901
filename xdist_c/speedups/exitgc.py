"""Exiting without the interpreter's last full garbage collection.

When CPython exits it clears the modules and then runs a full collection
over whatever is still alive.  For a process that ran or relayed many tests
that is most of its exit: measured here on 5,000 trivial tests, 0.25 s for a
serial pytest or a worker and 0.14 s for the controller -- and in a
distributed run the controller waits for its workers to exit before it
exits itself, so both are paid one after the other.

An ``atexit`` handler that calls :func:`gc.freeze` moves every object out
of the collector's reach just before that collection.  Every other
``atexit`` handler still runs and objects freed by reference counting are
still freed; only objects in reference cycles still alive at exit are left
to the operating system unfinalized.  So that this is never seen, the
handler first looks at the heap (one pass over ``gc.get_objects()``):

* files (buffered writers, text files) not closed are flushed, as their
  finalization would have done;
* if anything is alive whose finalization does more than that -- an object
  of a Python class with ``__del__``, a suspended generator or coroutine, a
  ``weakref.finalize`` not run at exit, a file of a Python class (gzip,
  tempfile, ...) not closed -- the heap is not frozen and the collection
  runs as usual.

``--full-exit-gc`` keeps the collection.  In a worker forked by the fork
server (:mod:`xdist_c.launch.forkserver`) there is no such collection at all; that
worker closes the files it opened itself (:func:`close_files`).
"""

from __future__ import annotations

import _io
import atexit
import gc
import sys
import types
import weakref
from itertools import compress
from typing import Any
from typing import Callable

import pytest

# Set by the last distributed session (controller or worker) of this
# process; read by the handler at exit.
_freeze_at_exit = False
# Set in a worker forked by the fork server, whose exit skips the collection
# anyway (xdist_c.launch.forkserver._finish).
in_forked_worker = False
# Why the handler kept the collection this time (None: it froze the heap).
kept_because: str | None = None


def _suspended(gen: Any) -> bool:
    # Closing a generator suspended at a yield runs its ``finally`` and
    # ``with`` exits; a coroutine never awaited warns when it goes.
    if type(gen) is types.CoroutineType:
        return gen.cr_frame is not None
    is_generator = type(gen) is types.GeneratorType
    # Python >= 3.11 says so itself (async generators: >= 3.12).
    suspended = getattr(gen, "gi_suspended" if is_generator else "ag_suspended", None)
    if isinstance(suspended, bool):
        return suspended
    frame = gen.gi_frame if is_generator else gen.ag_frame
    # Not started: f_lasti is -1 (0 on 3.11, 2 on 3.13); a yield comes later.
    return frame is not None and frame.f_lasti > 0


_GENERATORS = {types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType}


def _popen_running(proc: Any) -> bool:
    # subprocess.Popen.__del__ warns about (and keeps) a running child.
    return bool(getattr(proc, "_child_created", False)) and getattr(proc, "returncode", 0) is None


def _channel_has_errors(channel: Any) -> bool:
    # execnet's Channel.__del__ prints remote errors nobody fetched; its
    # other work (a close message to a gone peer) has no visible effect.
    from xdist_c._compat import execnet as execnet_compat

    return execnet_compat.channel_has_unfetched_errors(channel)


def _finalizer_exemptions() -> dict[type, Callable[[Any], bool]]:
    """Classes whose ``__del__`` is visible only in a state an object may be
    checked for: class -> whether this object's is."""
    exempt: dict[type, Callable[[Any], bool]] = {}
    for module, name, check in (
        ("subprocess", "Popen", _popen_running),
        ("execnet", "Channel", _channel_has_errors),
    ):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            exempt[cls] = check
    return exempt


def _closed(f: Any) -> bool:
    try:
        return bool(f.closed)
    except Exception:  # a wrapper whose buffer is gone
        return True


def _custom_io(cls: type) -> bool:
    """Whether closing a file of this class does more than flush it: a
    Python class that defines ``close`` (gzip, bz2, zipfile, tempfile)."""
    return cls.__module__ != "_io" and isinstance(getattr(cls, "close", None), types.FunctionType)


def check_heap() -> str | None:
    """Flush every open file; say why the heap must not be frozen, if
    anything alive has a finalizer with effects beyond that (None: it may).
    Two passes over the heap, both in C: the classes, then the files,
    generators and objects of the classes in ``_finalizer_exemptions``."""
    for info in getattr(weakref.finalize, "_registry", {}).values():
        if not getattr(info, "atexit", True):
            return "a weakref.finalize() not run at exit is pending"
    objects = gc.get_objects()
    kinds = list(map(type, objects))
    exempt = _finalizer_exemptions()
    checks: dict[type, Callable[[Any], bool]] = {}
    io_types = set()
    for cls in set(kinds):
        if issubclass(cls, _io._IOBase):
            io_types.add(cls)
        elif cls in _GENERATORS:
            checks[cls] = _suspended
        elif isinstance(getattr(cls, "__del__", None), types.FunctionType):
            check = next((exempt[c] for c in cls.__mro__ if c in exempt), None)
            if check is None:
                return f"an object with __del__ ({cls.__module__}.{cls.__qualname__}) is alive"
            checks[cls] = check
    # By exact class (isinstance() would look up each object's __class__).
    watched = io_types | checks.keys()
    found = list(compress(objects, map(watched.__contains__, kinds)))
    del objects, kinds
    files = []
    for obj in found:
        cls = type(obj)
        if cls in io_types:
            if not _closed(obj):
                if _custom_io(cls):
                    return f"a file of class {cls.__module__}.{cls.__qualname__} is open"
                files.append(obj)
        elif checks[cls](obj):
            return f"an object with a finalizer ({cls.__module__}.{cls.__qualname__}) is alive"
    _flush_all(files)
    return None


def _flush_all(files: list[Any]) -> None:
    # Text files first: theirs goes to their buffer, which is flushed too.
    for f in sorted(files, key=lambda f: not isinstance(f, _io._TextIOBase)):
        if isinstance(f, (_io._BufferedIOBase, _io._TextIOBase)):
            try:
                f.flush()
            except Exception:
                pass


def close_files(wanted: Callable[[Any], bool]) -> None:
    """Close the open files ``wanted`` picks, the outer layers (text files,
    files of Python classes) before the buffers under them: what the
    interpreter's teardown does for a process that ends with ``os._exit``."""
    frozen = gc.get_freeze_count()
    if frozen:
        gc.unfreeze()  # gc.get_objects() does not list frozen objects
    objects = gc.get_objects()
    if frozen:
        gc.freeze()
    kinds = list(map(type, objects))
    io_types = {cls for cls in set(kinds) if issubclass(cls, _io._IOBase)}
    found = list(compress(objects, map(io_types.__contains__, kinds)))
    del objects, kinds
    files = [f for f in found if not _closed(f) and wanted(f)]

    def layer(f: Any) -> int:
        if isinstance(f, _io._TextIOBase):
            return 0
        return 1 if type(f).__module__ != "_io" else 2

    for f in sorted(files, key=layer):
        if type(f).__module__ == "_io" and isinstance(f, _io._RawIOBase):
            continue  # no buffer: the descriptor goes with the process
        try:
            f.close()
        except Exception:
            pass


def _freeze_heap() -> None:
    global kept_because
    if not _freeze_at_exit:
        return
    if in_forked_worker:  # its exit has no collection to skip
        gc.freeze()
        return
    kept_because = check_heap()
    if kept_because is None:
        gc.freeze()


# Registered when the plugin is imported -- before conftests, plugins and
# tests register theirs -- so it runs after them: an ``atexit`` handler of a
# conftest that calls ``gc.collect()`` still collects.
atexit.register(_freeze_heap)


def skip_exit_collection(config: pytest.Config) -> None:
    """Have this process skip the last collection at exit, unless
    ``--full-exit-gc`` was given."""
    global _freeze_at_exit
    _freeze_at_exit = not config.getoption("full_exit_gc", False)


def describe(config: pytest.Config) -> str:
    """One line for -v: whether this process will skip the last collection
    at exit.  (The check at exit can still keep it; see the module.)"""
    if config.getoption("full_exit_gc", False):
        return "exit-time GC freeze off: --full-exit-gc"
    if not _freeze_at_exit:
        return "exit-time GC freeze off: not a distributed run"
    return "exit-time GC freeze on (kept where finalizers would be skipped)"
