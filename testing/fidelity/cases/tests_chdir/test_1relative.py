import os

import pytest


@pytest.mark.parametrize("i", range(4))
def test_relative(i, request):
    assert os.getcwd() == str(request.config.invocation_params.dir)
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", f"{i}.txt"), "w") as f:
        f.write(f"relative {i}\n")
