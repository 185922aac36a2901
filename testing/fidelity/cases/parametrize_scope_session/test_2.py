import pytest


@pytest.mark.parametrize("engine", ["v1", "v2"], scope="session")
def test_engine(engine):
    assert engine in ("v1", "v2")


@pytest.mark.parametrize("mode", ["fast", "safe"], scope="module")
def test_mode(mode):
    assert mode


def test_plain():
    pass
