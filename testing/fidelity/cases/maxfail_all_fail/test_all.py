import pytest


@pytest.mark.parametrize("i", range(8))
def test_fail(i):
    assert False
