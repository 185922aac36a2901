def test_fine():
    pass


def test_fine_too():
    pass
