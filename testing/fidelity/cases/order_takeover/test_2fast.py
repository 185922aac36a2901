import pytest


@pytest.mark.parametrize("i", range(5))
def test_fast(i):
    pass
