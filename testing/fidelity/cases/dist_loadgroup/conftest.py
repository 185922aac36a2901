import os

import pytest


@pytest.fixture(autouse=True)
def _record_order(request):
    os.makedirs("order", exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "master")
    with open(os.path.join("order", worker + ".txt"), "a") as f:
        f.write(request.node.nodeid + "\n")
