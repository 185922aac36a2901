"""pytest-xdist's ``xdist.workermanage``: the very module ``xdist_c.workermanage``."""

import sys

from xdist_c import workermanage as _module

sys.modules[__name__] = _module
