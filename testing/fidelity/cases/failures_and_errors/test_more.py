def test_other_pass():
    pass


def test_other_fail():
    raise KeyError("k")
