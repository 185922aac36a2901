"""pytest-xdist's ``xdist.newhooks``: the very module ``xdist_c.newhooks``."""

import sys

from xdist_c import newhooks as _module

sys.modules[__name__] = _module
