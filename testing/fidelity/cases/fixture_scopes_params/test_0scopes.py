def test_session_module(sess, mod, record):
    record(sess, mod)


class TestClass:
    def test_class_func(self, cls_fix, func, record):
        record(cls_fix, func)

    def test_all(self, sess, pkg, mod, cls_fix, func, record):
        record(sess, pkg, mod, cls_fix, func)
