def test_other(name):
    assert name == "root"
