import pytest


@pytest.fixture(scope="session", params=["sqlite", "pg"])
def db(request):
    return request.param
