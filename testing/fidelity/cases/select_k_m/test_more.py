def test_more():
    pass
