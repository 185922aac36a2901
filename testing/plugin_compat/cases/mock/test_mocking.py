import os
import os.path


class Thing:
    def compute(self, x):
        return x * 2


def test_patch(mocker):
    mocker.patch("os.getcwd", return_value="/nowhere")
    assert os.getcwd() == "/nowhere"


def test_unpatched_after():
    assert os.getcwd() != "/nowhere"


def test_spy(mocker):
    thing = Thing()
    spy = mocker.spy(thing, "compute")
    assert thing.compute(3) == 6
    spy.assert_called_once_with(3)
    assert spy.spy_return == 6


def test_stub(mocker):
    stub = mocker.stub(name="callback")
    stub("a")
    stub.assert_called_once_with("a")


def test_assert_fails(mocker):
    m = mocker.patch("os.path.exists", return_value=True)
    os.path.exists("x")
    m.assert_called_once_with("y")


def test_patch_object(mocker):
    mocker.patch.object(Thing, "compute", return_value=0)
    assert Thing().compute(5) == 0
