"""What the controller's interpreter looked like when xdist_c was loaded.

A leaf module (it imports nothing of xdist_c): :mod:`xdist_c.plugin` loads
it first, and :mod:`xdist_c.controller.workermanage` reads it without importing the
plugin module (which imports the controller's modules).
"""

from __future__ import annotations

import sys

# sys.path as it was at interpreter start-up (before conftests change it);
# popen workers use it verbatim, so they import exactly what the
# controller did.
SYS_PATH: list[str] = list(sys.path)
