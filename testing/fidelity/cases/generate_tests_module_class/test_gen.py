def pytest_generate_tests(metafunc):
    if "size" in metafunc.fixturenames:
        metafunc.parametrize("size", [1, 2, 3], ids=["one", "two", "three"])


def test_size(size):
    assert size > 0


class TestGen:
    def pytest_generate_tests(self, metafunc):
        metafunc.parametrize("colour", ["red", "blue"])

    def test_colour(self, colour):
        assert colour in ("red", "blue")
