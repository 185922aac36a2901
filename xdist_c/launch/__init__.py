"""Starting workers: where a worker process comes from and how it gets its
first code.

- :mod:`~xdist_c.launch._spec`: ``--tx`` values expanded into one execnet
  spec per worker;
- :mod:`~xdist_c.launch.launcher`: the one place that decides how a worker
  starts (forked, spawned or remote) and starts it; the rest of xdist_c
  asks it;
- :mod:`~xdist_c.launch.forkserver`: local workers forked from a copy of
  the controller (Linux), and why not where they are spawned;
- :mod:`~xdist_c.launch.process`: a local worker's process and pipes (its
  stderr captured and copied live), and how it ended;
- :mod:`~xdist_c.launch.remote`: the bootstrap every worker runs, sent as
  source by execnet's ``remote_exec`` (a standalone file: it imports
  nothing of xdist_c until pytest's config exists).
"""
