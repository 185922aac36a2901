import pytest


@pytest.fixture
def name():
    return "root"


@pytest.fixture(scope="package")
def pkg_name(request):
    return request.node.path.name
