import pytest


@pytest.fixture
def version():
    import mypkg

    return mypkg.VERSION
