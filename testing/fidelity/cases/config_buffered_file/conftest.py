import os

_config = None


def pytest_configure(config):
    global _config
    _config = config
    os.makedirs("out", exist_ok=True)
    name = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    config._fidelity_log = open(os.path.join("out", name + ".log"), "w", buffering=1 << 16)


def pytest_runtest_logreport(report):
    if report.when == "call":
        role = "worker" if os.environ.get("PYTEST_XDIST_WORKER") else "controller"
        _config._fidelity_log.write(f"{role} {report.nodeid}\n")


def pytest_unconfigure(config):
    config._fidelity_log.close()
