"""pytest-xdist's ``xdist.scheduler.loadfile``."""

from xdist_c.scheduler import LoadFileScheduling

__all__ = ["LoadFileScheduling"]
