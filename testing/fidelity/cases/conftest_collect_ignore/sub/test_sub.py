def test_kept_sub():
    pass
