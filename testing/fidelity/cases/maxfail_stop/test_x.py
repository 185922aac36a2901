import pytest


@pytest.mark.parametrize("i", range(6))
def test_before(i):
    pass


def test_fails():
    assert False


@pytest.mark.parametrize("i", range(6))
def test_after(i):
    pass
