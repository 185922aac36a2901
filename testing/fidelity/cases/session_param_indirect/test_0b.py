import time

import pytest


@pytest.mark.parametrize("backend", ["sqlite", "pg"], indirect=True)
def test_b(backend):
    time.sleep(0.3)
    assert backend in ("SQLITE", "PG")
