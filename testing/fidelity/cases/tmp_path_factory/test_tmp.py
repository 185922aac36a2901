import os

import pytest


def _write(name, text):
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", name), "w") as f:
        f.write(text + "\n")


@pytest.mark.parametrize("i", range(3))
def test_tmp_path(tmp_path, i):
    assert not any(tmp_path.iterdir())
    _write(f"tmp{i}.txt", f"tmp_path {tmp_path.name}")


def test_shared(shared_dir):
    assert (shared_dir / "data.txt").read_text() == "shared data"
    _write("shared.txt", f"shared {shared_dir.name}")


def test_tmpdir(tmpdir):
    _write("tmpdir.txt", f"tmpdir {tmpdir.basename}")
