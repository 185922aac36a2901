import pytest


@pytest.fixture
def name(name):
    return name + "/sub"
