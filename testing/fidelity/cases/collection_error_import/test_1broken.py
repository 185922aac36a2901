import not_installed_anywhere


def test_never():
    pass
