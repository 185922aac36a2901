import pytest


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("shared")
    (path / "data.txt").write_text("shared data")
    return path
