def test_b1(flavour):
    assert flavour in "xy"
