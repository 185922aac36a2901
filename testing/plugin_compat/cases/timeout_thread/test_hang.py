import threading

import pytest


def test_quick():
    assert True


def test_hangs():
    threading.Event().wait(60)


@pytest.mark.timeout(0)
def test_no_timeout_marker():
    assert True


def test_after():
    assert 1 + 1 == 2
