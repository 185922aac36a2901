import pytest


def test_ok():
    assert True


def test_fails():
    assert 1 == 2, "instafail failure"


@pytest.fixture
def broken():
    raise RuntimeError("instafail setup error")


def test_error(broken):
    pass


def test_ok_too():
    assert True
