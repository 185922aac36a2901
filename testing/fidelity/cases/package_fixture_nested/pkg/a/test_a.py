def test_a1(flavour, package_name):
    assert flavour in "xy"
    assert package_name == "pkg"


def test_a2():
    pass
