"""A small example suite: run it with ``pytest -n auto examples/suite``."""

import time

import pytest


@pytest.mark.parametrize("n", range(200))
def test_arithmetic(n):
    assert n + n == 2 * n


@pytest.mark.parametrize("word", ["alpha", "beta", "gamma", "delta"])
def test_strings(word):
    assert word.upper().lower() == word


@pytest.mark.parametrize("i", range(8))
def test_slowish(i):
    time.sleep(0.05)


def test_worker_id(worker_id):
    assert worker_id == "master" or worker_id.startswith("gw")


class TestGrouped:
    def test_one(self, tmp_path):
        (tmp_path / "f").write_text("x")
        assert (tmp_path / "f").read_text() == "x"

    def test_two(self, testrun_uid):
        assert len(testrun_uid) == 32
