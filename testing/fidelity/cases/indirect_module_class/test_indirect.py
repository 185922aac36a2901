import pytest


@pytest.fixture(scope="module")
def server(request):
    return f"server-{request.param}"


@pytest.fixture(scope="class")
def client(request):
    return f"client-{request.param}"


@pytest.mark.parametrize("server", ["a", "b"], indirect=True, scope="module")
def test_server(server):
    assert server.startswith("server-")


@pytest.mark.parametrize("server", ["a", "b"], indirect=True, scope="module")
def test_server_again(server):
    assert server in ("server-a", "server-b")


@pytest.mark.parametrize("client", ["x", "y"], indirect=True, scope="class")
class TestClient:
    def test_one(self, client):
        assert client.startswith("client-")

    def test_two(self, client):
        assert client in ("client-x", "client-y")
