import pytest

attempts = {}


def _attempt(name):
    attempts[name] = attempts.get(name, 0) + 1
    return attempts[name]


def test_flaky_once():
    assert _attempt("once") >= 2


def test_flaky_twice():
    assert _attempt("twice") >= 3


def test_always_fails():
    assert False


def test_passes():
    assert True


@pytest.mark.flaky(reruns=1)
def test_marker_fails():
    assert _attempt("marker") >= 3


@pytest.fixture
def broken_setup():
    if _attempt("setup") < 2:
        raise RuntimeError("setup fails once")


def test_setup_flaky(broken_setup):
    assert True
