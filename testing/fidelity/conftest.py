# The cases are suites of their own, run in subprocesses by test_fidelity.py.
collect_ignore = ["cases", "helper", "record.py"]
