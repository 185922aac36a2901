import time


def test_a():
    time.sleep(0.1)


def test_b():
    pass


def test_dropped():
    raise AssertionError("deselected")
