import os


def test_chdir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert os.getcwd() == str(tmp_path)


def test_chdir_back(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with open("scratch.txt", "w") as f:
        f.write("x")
