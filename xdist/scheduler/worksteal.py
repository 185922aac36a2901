"""pytest-xdist's ``xdist.scheduler.worksteal``."""

from xdist_c.controller.scheduler import WorkStealingScheduling

__all__ = ["WorkStealingScheduling"]
