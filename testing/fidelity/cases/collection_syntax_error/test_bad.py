def test_bad(:
    pass
