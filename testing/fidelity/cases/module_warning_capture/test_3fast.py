def test_f3():
    pass
