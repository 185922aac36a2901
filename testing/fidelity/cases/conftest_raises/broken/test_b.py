def test_in_broken():
    pass
