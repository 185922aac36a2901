raise RuntimeError("broken conftest")
