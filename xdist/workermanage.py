"""pytest-xdist's ``xdist.workermanage``: the very module ``xdist_c.controller.workermanage``."""

import sys

from xdist_c.controller import workermanage as _module

sys.modules[__name__] = _module
