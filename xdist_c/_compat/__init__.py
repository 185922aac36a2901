"""The one place xdist_c touches private names of pytest, pluggy and execnet.

Each module here wraps one dependency's internals in named functions and
constants, says which releases each was checked on, and falls back to the
public path (or to not applying a speed-up) when the internals have
another shape.  A fallback may make a run slower; it must not raise or
change what a run prints.  ``testing/test_compat_boundary.py`` fails when
code outside this package uses such a name.

- :mod:`xdist_c._compat.pytest`: pytest 7.0 to 9.2
- :mod:`xdist_c._compat.pluggy`: pluggy 1.2 to 1.7
- :mod:`xdist_c._compat.execnet`: execnet 2.1.0 to 2.1.2
"""
