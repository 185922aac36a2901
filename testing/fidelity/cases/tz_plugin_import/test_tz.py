import os
import time

import pytest


@pytest.mark.parametrize("i", range(4))
def test_tz(i):
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", f"tz{i}.txt"), "w") as f:
        f.write(f"{os.environ.get('TZ')} {time.tzname} {time.localtime(0).tm_hour}\n")
