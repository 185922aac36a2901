def test_python():
    pass
