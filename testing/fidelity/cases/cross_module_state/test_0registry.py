REGISTRY = ["from-0"]


def test_registry():
    assert "from-0" in REGISTRY
