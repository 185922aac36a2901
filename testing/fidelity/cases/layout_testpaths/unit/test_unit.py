def test_unit_a():
    pass


def test_unit_b():
    pass
