import pytest


@pytest.mark.skip(reason="marked")
def test_skip():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False


@pytest.mark.xfail(reason="fixed")
def test_xpass():
    pass


@pytest.mark.xfail(strict=True, reason="strict")
def test_xpass_strict():
    pass


def test_imperative_skip():
    pytest.skip("not here")


def test_imperative_xfail():
    pytest.xfail("not yet")


@pytest.mark.xfail(raises=KeyError)
def test_xfail_wrong_exception():
    raise ValueError("not a KeyError")


def test_pass():
    pass
