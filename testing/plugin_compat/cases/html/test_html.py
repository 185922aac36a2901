import pytest


def test_pass():
    assert True


def test_fail():
    assert 0, "html failure"


@pytest.mark.skip(reason="skipped for html")
def test_skip():
    pass


@pytest.mark.xfail(reason="expected")
def test_xfail():
    assert False


@pytest.mark.parametrize("n", range(3))
def test_param(n, extras):
    assert n < 3


@pytest.fixture
def broken():
    raise RuntimeError("setup error")


def test_error(broken):
    pass
