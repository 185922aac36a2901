import os

COUNTS = {"imports": 0, "addoption": 0, "configure": 0, "sessionstart": 0, "pid": os.getpid()}
COUNTS["imports"] += 1


def pytest_addoption(parser):
    COUNTS["addoption"] += 1


def pytest_configure(config):
    COUNTS["configure"] += 1


def pytest_sessionstart(session):
    COUNTS["sessionstart"] += 1
