class TestA:
    def test_one(self, conn):
        assert conn

    def test_plain(self):
        pass

    def test_two(self, conn, cfg):
        assert conn and cfg


def test_module_level(cfg):
    assert cfg
