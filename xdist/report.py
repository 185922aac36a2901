"""pytest-xdist's ``xdist.report``: the very module ``xdist_c.report``."""

import sys

from xdist_c import report as _module

sys.modules[__name__] = _module
