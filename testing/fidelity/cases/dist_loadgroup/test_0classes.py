import time

import pytest


class TestA:
    def test_1(self):
        time.sleep(0.2)

    def test_2(self):
        pass


class TestB:
    @pytest.mark.parametrize("i", range(3))
    def test_p(self, i):
        pass


@pytest.mark.xdist_group("db")
def test_grouped_1():
    pass
