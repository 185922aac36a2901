"""pytest-xdist's ``xdist.scheduler.loadfile``."""

from xdist_c.controller.scheduler import LoadFileScheduling

__all__ = ["LoadFileScheduling"]
