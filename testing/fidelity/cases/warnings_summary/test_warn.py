import warnings

import pytest

warnings.warn("at collection", UserWarning)


@pytest.fixture
def warns_in_fixture():
    warnings.warn("from a fixture", UserWarning)


def test_deprecated():
    warnings.warn("old api", DeprecationWarning)


def test_fixture(warns_in_fixture):
    pass


def test_ignored():
    warnings.warn("ignored by ini", UserWarning)


def test_pytest_warns():
    with pytest.warns(RuntimeWarning):
        warnings.warn("expected", RuntimeWarning)


@pytest.mark.filterwarnings("error")
def test_warning_as_error():
    with pytest.raises(UserWarning):
        warnings.warn("raised", UserWarning)


@pytest.mark.parametrize("i", range(3))
def test_same_warning_many(i):
    warnings.warn("repeated", FutureWarning)
