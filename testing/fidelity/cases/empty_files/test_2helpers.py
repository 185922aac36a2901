def helper():
    return 1


class TestNothing:
    pass
