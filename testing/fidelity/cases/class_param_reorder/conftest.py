import pytest


@pytest.fixture(scope="class", params=["c1", "c2"])
def conn(request):
    return request.param


@pytest.fixture(scope="module", params=["m1", "m2"])
def cfg(request):
    return request.param
