# The cases are suites of their own, run in subprocesses by test_plugin_compat.py.
collect_ignore = ["cases", "record.py", "compat_runner.py"]
