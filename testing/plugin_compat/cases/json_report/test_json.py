import pytest


def test_pass():
    assert True


def test_fail():
    assert 0, "json failure"


@pytest.mark.skip(reason="skipped for json")
def test_skip():
    pass


@pytest.mark.xfail(reason="expected")
def test_xfail():
    assert False


@pytest.mark.parametrize("n", range(3))
def test_param(n):
    assert n < 3


@pytest.fixture
def broken():
    raise RuntimeError("setup error")


def test_error(broken):
    pass


def test_metadata(json_metadata):
    json_metadata["answer"] = 42
