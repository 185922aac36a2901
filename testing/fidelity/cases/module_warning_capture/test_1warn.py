import warnings

warnings.warn("imported test_1warn", UserWarning)


def test_w():
    pass
