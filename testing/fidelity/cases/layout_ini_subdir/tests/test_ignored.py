def test_not_collected():
    raise AssertionError("python_files excludes this file")
