import os
import re

import pytest


@pytest.mark.parametrize("i", range(4))
def test_worker(i, worker_id, testrun_uid, request):
    assert re.fullmatch(r"gw\d+", worker_id)
    assert os.environ["PYTEST_XDIST_WORKER"] == worker_id
    assert re.fullmatch(r"[0-9a-f]{32}", testrun_uid)
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", f"{i}.txt"), "w") as f:
        f.write(
            f"count={os.environ['PYTEST_XDIST_WORKER_COUNT']} "
            f"workerinput={hasattr(request.config, 'workerinput')} "
            f"uid_env={os.environ.get('PYTEST_XDIST_TESTRUNUID') == testrun_uid}\n"
        )
