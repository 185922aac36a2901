import pytest


@pytest.mark.parametrize("n", range(6))
def test_many(n):
    assert n >= 0


def test_fails():
    assert "sugar" == "salt"


@pytest.mark.skip(reason="skipped")
def test_skipped():
    pass
