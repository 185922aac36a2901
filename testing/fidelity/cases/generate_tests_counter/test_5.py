def test_x(number):
    assert number >= 0
