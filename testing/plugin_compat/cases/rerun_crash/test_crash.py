import os
from pathlib import Path

MARKER = Path(__file__).parent / "crashed-once"


def test_crashes_once():
    if not MARKER.exists():
        MARKER.write_text("")
        os._exit(3)


def test_fine():
    assert True


def test_fine_too():
    assert True
