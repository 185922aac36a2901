import random

import pytest

from conftest import record


@pytest.mark.parametrize("i", range(4))
def test_draw_c(i):
    record(f"c{i}", random.random())


class TestOrderc:
    def test_one(self):
        record("c-one", random.randint(0, 10**9))

    def test_two(self):
        record("c-two", random.randint(0, 10**9))
