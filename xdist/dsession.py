"""pytest-xdist's ``xdist.dsession``: the very module ``xdist_c.controller.dsession``."""

import sys

from xdist_c.controller import dsession as _module

sys.modules[__name__] = _module
