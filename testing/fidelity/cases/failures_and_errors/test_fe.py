import pytest


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup failed")


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown failed")


@pytest.fixture(scope="module")
def broken_module():
    raise ValueError("module fixture failed")


def test_pass():
    pass


def test_fail():
    assert 1 == 2


def test_setup_error(broken_setup):
    pass


def test_teardown_error(broken_teardown):
    pass


def test_module_fixture_1(broken_module):
    pass


def test_module_fixture_2(broken_module):
    pass


def test_fail_and_teardown_error(broken_teardown):
    raise AssertionError("both")
