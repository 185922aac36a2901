from helpers_for_tests import ANSWER


def test_version(version):
    assert version == "1.0"


def test_helper():
    assert ANSWER == 42
