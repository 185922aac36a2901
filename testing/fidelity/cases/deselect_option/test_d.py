import pytest


def test_good():
    pass


def test_bad():
    raise AssertionError("deselected")


@pytest.mark.parametrize("i", [1, 2, 3])
def test_param(i):
    assert i != 2


class TestC:
    def test_good(self):
        pass

    def test_bad(self):
        raise AssertionError("deselected")
