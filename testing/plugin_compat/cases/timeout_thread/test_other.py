def test_other_one():
    assert True


def test_other_two():
    assert True
