import time


def test_b(db):
    time.sleep(0.3)
    assert db in ("sqlite", "pg")
