"""pytest-xdist's ``xdist.dsession``: the very module ``xdist_c.dsession``."""

import sys

from xdist_c import dsession as _module

sys.modules[__name__] = _module
