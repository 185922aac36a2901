import random

import pytest

from conftest import record


@pytest.mark.parametrize("i", range(4))
def test_draw_b(i):
    record(f"b{i}", random.random())


class TestOrderb:
    def test_one(self):
        record("b-one", random.randint(0, 10**9))

    def test_two(self):
        record("b-two", random.randint(0, 10**9))
