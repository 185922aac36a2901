def test_f2():
    pass
