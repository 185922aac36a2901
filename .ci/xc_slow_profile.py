"""pytest plugin for the slow CI runs (.ci/sanitize, .ci/valgrind).

Loaded with ``-p xc_slow_profile`` (``.ci`` on PYTHONPATH) before the test
modules are imported, so their ``@settings`` inherit it: no hypothesis
deadlines or too-slow health checks, which instrumented builds (ASan:
several times slower, memcheck: 20-50 times) would trip at random.
"""

from __future__ import annotations

from hypothesis import HealthCheck
from hypothesis import settings

settings.register_profile("xc_slow", deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile("xc_slow")
