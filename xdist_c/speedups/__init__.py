"""The speed features: each does what pytest or pytest-xdist does, with
less work, and steps aside where it could not give the same result.

- :mod:`~xdist_c.speedups._fastpath`: hook calls skipped where only pytest
  implements the hook;
- :mod:`~xdist_c.speedups.hookexec`: the controller's hook calls through
  the C ``HookExec``;
- :mod:`~xdist_c.speedups.exitgc`: exiting without the interpreter's last
  full garbage collection;
- :mod:`~xdist_c.speedups.sourcecache`: workers parse a source file once
  for all the failures it shows;
- :mod:`~xdist_c.speedups.teardownindex`: the controller finds a test's
  teardown reports by lookup;
- :mod:`~xdist_c.speedups.split` and :mod:`~xdist_c.speedups.split_check`:
  split collection (each worker builds the items of its share of the
  files), and when it cannot be taken.
"""
