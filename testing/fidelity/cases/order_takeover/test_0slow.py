import time

import pytest


@pytest.mark.parametrize("i", range(5))
def test_slow(i):
    time.sleep(0.2)
