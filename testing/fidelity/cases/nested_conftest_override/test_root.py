def test_root(name):
    assert name == "root"
