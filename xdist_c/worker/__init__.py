"""The worker: a pytest session driven by the controller's commands.

- :mod:`~xdist_c.worker.session`: :func:`run_worker` (what the bootstrap in
  :mod:`xdist_c.launch.remote` calls) and :class:`WorkerInteractor`, the
  plugin that runs the tests it is sent and relays its events in frames;
- :mod:`~xdist_c.worker.distinfo`: ``importlib.metadata`` finds
  "pytest-xdist" inside workers;
- :mod:`~xdist_c.worker.liveoutput`: ``-s``, the worker's stdout relayed to
  the controller.

``from xdist_c.worker import run_worker`` is what every worker, on any
host, runs: keep that name here.
"""

from xdist_c.worker.session import WorkerInteractor
from xdist_c.worker.session import run_worker

__all__ = ["WorkerInteractor", "run_worker"]
