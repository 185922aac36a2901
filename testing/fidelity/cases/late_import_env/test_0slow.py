import time


def test_s1():
    time.sleep(0.3)


def test_s2():
    time.sleep(0.3)


def test_s3():
    time.sleep(0.3)


def test_s4():
    time.sleep(0.3)
