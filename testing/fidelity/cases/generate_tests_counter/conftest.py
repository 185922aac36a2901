import itertools

_counter = itertools.count()


def pytest_generate_tests(metafunc):
    if "number" in metafunc.fixturenames:
        metafunc.parametrize("number", [next(_counter)])
