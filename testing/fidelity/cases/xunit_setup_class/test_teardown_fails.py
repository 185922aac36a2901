class TestTeardownFails:
    @classmethod
    def teardown_class(cls):
        raise RuntimeError("teardown_class failed")

    def test_x(self):
        pass
