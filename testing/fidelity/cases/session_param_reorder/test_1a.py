import time


def test_plain():
    time.sleep(0.3)


def test_a(db):
    time.sleep(0.3)
    assert db in ("sqlite", "pg")
