"""Build script for the C extension ``xdist_c._core``.

Everything else lives in pyproject.toml.  The extension is mandatory: a
compile error fails the install, there is no pure-Python fallback.

Environment switches:

* ``XDIST_C_DEBUG=1``    -- ``-O0 -g``, asserts on (``-UNDEBUG``).
* ``XDIST_C_SANITIZE=1`` -- AddressSanitizer + UndefinedBehaviorSanitizer.
* ``XDIST_C_WERROR=1``   -- turn warnings into errors (CI does this).
"""

from __future__ import annotations

import glob
import os
import sys

from setuptools import Extension
from setuptools import setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


extra_compile_args: list[str] = []
extra_link_args: list[str] = []
undef_macros: list[str] = []
if sys.platform != "win32":
    extra_compile_args += ["-Wall", "-Wextra", "-Wno-missing-field-initializers", "-std=c99"]
    if _flag("XDIST_C_WERROR"):
        extra_compile_args.append("-Werror")
    if _flag("XDIST_C_DEBUG") or _flag("XDIST_C_SANITIZE"):
        extra_compile_args += ["-O0", "-g3"]
        undef_macros.append("NDEBUG")
    if _flag("XDIST_C_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
        extra_compile_args += san
        extra_link_args += san

sources = sorted(glob.glob(os.path.join("csrc", "*.c")))

setup(
    ext_modules=[
        Extension(
            "xdist_c._core",
            sources=sources,
            depends=sorted(glob.glob(os.path.join("csrc", "*.h"))),
            extra_compile_args=extra_compile_args,
            extra_link_args=extra_link_args,
            undef_macros=undef_macros,
        )
    ]
)
