def test_scratch():
    raise AssertionError("not in testpaths")
