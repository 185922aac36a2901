import pytest


@pytest.mark.xdist_group("db")
def test_grouped_2():
    pass


@pytest.mark.xdist_group(name="net")
@pytest.mark.parametrize("i", range(3))
def test_net(i):
    pass


def test_free():
    pass
