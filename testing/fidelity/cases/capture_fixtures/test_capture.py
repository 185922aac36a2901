import logging
import os
import sys

log = logging.getLogger("fidelity")


def test_capsys(capsys):
    print("hello")
    sys.stderr.write("err\n")
    out, err = capsys.readouterr()
    assert (out, err) == ("hello\n", "err\n")


def test_capfd(capfd):
    os.write(1, b"fd out\n")
    assert capfd.readouterr().out == "fd out\n"


def test_caplog(caplog):
    with caplog.at_level(logging.INFO):
        log.info("logged")
    assert caplog.messages == ["logged"]


def test_fails_with_output():
    print("printed before failing")
    sys.stderr.write("stderr before failing\n")
    log.warning("warning logged before failing")
    assert 1 == 2
