import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def app_env():
    os.environ["APP_ENV"] = "testing"
    yield
    os.environ.pop("APP_ENV", None)
