import pytest


def test_ok():
    pass


def test_broken():
    raise AssertionError("deselected by -k")


@pytest.mark.slow
def test_slow():
    raise AssertionError("deselected by -m")


class TestGroup:
    def test_in_class(self):
        pass

    def test_broken_in_class(self):
        raise AssertionError("deselected by -k")
