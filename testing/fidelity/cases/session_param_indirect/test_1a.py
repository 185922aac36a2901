import time

import pytest


def test_plain():
    time.sleep(0.3)


@pytest.mark.parametrize("backend", ["sqlite", "pg"], indirect=True)
def test_a(backend):
    time.sleep(0.3)
    assert backend in ("SQLITE", "PG")
