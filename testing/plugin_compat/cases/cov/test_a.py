import mylib


def test_negative():
    assert mylib.classify(-1) == "negative"


def test_positive():
    assert mylib.classify(5) == "positive"
