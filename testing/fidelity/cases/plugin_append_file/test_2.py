import pytest


@pytest.mark.parametrize("i", range(4))
def test_t(i):
    pass
