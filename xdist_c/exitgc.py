"""Exiting without the interpreter's last full garbage collection.

When CPython exits it clears the modules and then runs a full collection
over whatever is still alive.  For a process that ran or relayed many tests
that is most of its exit: measured here on 5,000 trivial tests, 0.25 s for a
serial pytest or a worker and 0.14 s for the controller -- and in a
distributed run the controller waits for its workers to exit before it
exits itself, so both are paid one after the other.

An ``atexit`` handler that calls :func:`gc.freeze` moves every object out
of the collector's reach just before that collection.  Every other
``atexit`` handler still runs, objects freed by
reference counting are still freed, files held by them are still flushed;
only objects in reference cycles still alive at exit are left to the
operating system without their ``__del__`` being called -- which Python
does not promise at exit anyway.  ``--full-exit-gc`` keeps the collection.
"""

from __future__ import annotations

import atexit
import gc

import pytest


# Set by the last distributed session (controller or worker) of this
# process; read by the handler at exit.
_freeze_at_exit = False


def _freeze_heap() -> None:
    if _freeze_at_exit:
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
