import os
from pathlib import Path

import pytest

NAMES = ["COMPAT_PLAIN", "COMPAT_KEEP", "COMPAT_DEFAULT", "COMPAT_PRESET", "COMPAT_EXPANDED"]


@pytest.mark.parametrize("name", NAMES)
def test_seen(name):
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    with open(out / f"{os.getpid()}.txt", "a") as f:
        f.write(f"{name}={os.environ.get(name)}\n")


def test_worker_env_present():
    assert os.environ["PYTEST_XDIST_WORKER"].startswith("gw")
