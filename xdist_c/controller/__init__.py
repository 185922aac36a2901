"""The controller: the pytest process that starts the workers, hands them
tests and reports what they ran.

- :mod:`~xdist_c.controller.dsession`: the session loop (events from the
  workers turned into pytest hook calls and terminal output);
- :mod:`~xdist_c.controller.scheduler`: the ``--dist`` modes' schedulers
  (C) as pytest sees them (``xdist_c.scheduler`` re-exports the classes);
- :mod:`~xdist_c.controller.workermanage`: the workers as nodes (the
  execnet group, the ``node`` objects hooks see, the commands they are sent);
- :mod:`~xdist_c.controller.report`: the "Different tests were collected"
  error;
- :mod:`~xdist_c.controller.runreport`: ``--run-report``,
  ``--trace-file``, ``--status-line``;
- :mod:`~xdist_c.controller.durations`: tests' durations kept between runs
  (``--schedule-by-duration``);
- :mod:`~xdist_c.controller.adaptive`: ``-n adaptive``'s worker count;
- :mod:`~xdist_c.controller.limits`: the stop after ``-x``/``--maxfail``
  and ``--test-timeout`` (with the few lines a worker runs to answer it);
- :mod:`~xdist_c.controller.liveoutput`: ``-s``, workers' stdout shown live.
"""
