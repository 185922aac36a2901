import pytest


@pytest.mark.parametrize("i", range(6))
def test_t(i):
    pass
