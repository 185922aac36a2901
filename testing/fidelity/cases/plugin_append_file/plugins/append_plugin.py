"""Logs every test call to out/calls.log through a file opened at import."""
import os

os.makedirs("out", exist_ok=True)
_log = open(os.path.join("out", "calls.log"), "a")


def pytest_runtest_logreport(report):
    if report.when == "call":
        role = "worker" if os.environ.get("PYTEST_XDIST_WORKER") else "controller"
        _log.write(f"{role} {report.nodeid} {report.outcome}\n")
