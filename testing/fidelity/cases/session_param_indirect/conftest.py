import pytest


@pytest.fixture(scope="session")
def backend(request):
    return request.param.upper()
