def test_add():
    from mathlib import add
    assert add(2, 2) == 4
