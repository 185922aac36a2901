import pytest


@pytest.fixture(scope="package", params=["x", "y"])
def flavour(request):
    return request.param


@pytest.fixture(scope="package", autouse=True)
def package_name(request):
    return request.node.name
