import random

import pytest

from conftest import record


@pytest.mark.parametrize("i", range(4))
def test_draw_a(i):
    record(f"a{i}", random.random())


class TestOrdera:
    def test_one(self):
        record("a-one", random.randint(0, 10**9))

    def test_two(self):
        record("a-two", random.randint(0, 10**9))
