import os

import pytest

import counter_plugin


@pytest.mark.parametrize("i", range(6))
def test_counts(i):
    counts = dict(counter_plugin.COUNTS)
    same_pid = counts.pop("pid") == os.getpid()
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", f"{i}.txt"), "w") as f:
        f.write(f"{sorted(counts.items())} imported-here={same_pid}\n")
