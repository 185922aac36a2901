import unittest


class TestWithClass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = [1, 2, 3]

    @classmethod
    def tearDownClass(cls):
        del cls.shared

    def setUp(self):
        self.local = list(self.shared)

    def test_len(self):
        self.assertEqual(len(self.local), 3)

    def test_sub(self):
        for i in self.shared:
            with self.subTest(i=i):
                self.assertGreater(i, 0)

    @unittest.skip("skipped by unittest")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(1, 2)


class TestBrokenSetUpClass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("setUpClass failed")

    def test_never(self):
        pass
