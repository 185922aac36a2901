import pytest


def check_one():
    pass


@pytest.mark.slowish
def check_two():
    pass


class CheckThings:
    def check_thing(self):
        pass


def test_not_collected():
    raise AssertionError("python_functions is check_*")
