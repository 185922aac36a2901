import pytest


def test_plain():
    assert True


@pytest.mark.repeat(2)
def test_marked():
    assert True


@pytest.mark.parametrize("x", ["a", "b"])
def test_param(x):
    assert x in "ab"


def test_fails(request):
    assert request.node.name != "test_fails[2-3]"
