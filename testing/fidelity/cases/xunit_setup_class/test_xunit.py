STATE = {}


def setup_module(module):
    STATE["module"] = True


def teardown_module(module):
    STATE.pop("module")


class TestOne:
    @classmethod
    def setup_class(cls):
        cls.resource = "one"

    @classmethod
    def teardown_class(cls):
        del cls.resource

    def setup_method(self, method):
        self.method = method.__name__

    def test_a(self):
        assert self.resource == "one" and self.method == "test_a" and STATE["module"]

    def test_b(self):
        assert self.resource == "one" and self.method == "test_b"


class TestTwo:
    def setup_class(cls):
        cls.resource = "two"

    def test_c(self):
        assert self.resource == "two"
