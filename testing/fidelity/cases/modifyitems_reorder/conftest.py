import os

import pytest


def pytest_collection_modifyitems(config, items):
    items.reverse()
    dropped = [item for item in items if item.name == "test_dropped"]
    items[:] = [item for item in items if item.name != "test_dropped"]
    config.hook.pytest_deselected(items=dropped)


@pytest.fixture(autouse=True)
def _record_order(request):
    os.makedirs("order", exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "master")
    with open(os.path.join("order", worker + ".txt"), "a") as f:
        f.write(request.node.nodeid + "\n")
