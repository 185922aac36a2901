import os

import pytest


@pytest.fixture(scope="session", params=["s1", "s2"])
def sess(request):
    return request.param


@pytest.fixture(scope="package", params=["p1"])
def pkg(request):
    return request.param


@pytest.fixture(scope="module", params=["m1", "m2"])
def mod(request):
    return request.param


@pytest.fixture(scope="class", params=["c1", "c2"])
def cls_fix(request):
    return request.param


@pytest.fixture(params=["f1", "f2"])
def func(request):
    return request.param


@pytest.fixture
def record(request):
    def write(*values):
        os.makedirs("out", exist_ok=True)
        with open(os.path.join("out", "params.txt"), "a") as f:
            f.write(" ".join([request.node.name, *values]) + "\n")
    return write
