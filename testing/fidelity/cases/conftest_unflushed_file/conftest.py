import os

_log = None


def pytest_configure(config):
    global _log
    os.makedirs("out", exist_ok=True)
    name = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    _log = open(os.path.join("out", name + ".log"), "w")


def pytest_runtest_call(item):
    _log.write(item.nodeid + "\n")
