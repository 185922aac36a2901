import mylib


def test_loop():
    assert mylib.loop(4) == 6


def test_loop_empty():
    assert mylib.loop(0) == 0
