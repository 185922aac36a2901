def test_x():
    raise AssertionError("ignored")
