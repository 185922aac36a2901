"""pytest-xdist's ``xdist.scheduler.worksteal``."""

from xdist_c.scheduler import WorkStealingScheduling

__all__ = ["WorkStealingScheduling"]
