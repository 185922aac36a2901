import pytest

import counter_state


@pytest.mark.parametrize("i", range(4))
def test_ok(i):
    counter_state.calls.append(i)


def test_fails():
    assert False
