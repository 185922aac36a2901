collect_ignore = ["test_ignored.py"]
collect_ignore_glob = ["*_skipglob.py"]


def pytest_ignore_collect(collection_path, config):
    if collection_path.name == "legacy":
        return True
    return None
