"""pytest-xdist's ``xdist.plugin``: the very module ``xdist_c.plugin``."""

import sys

from xdist_c import plugin as _module

sys.modules[__name__] = _module
