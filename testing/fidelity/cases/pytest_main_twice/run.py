import json
import os
import sys

import pytest

args = json.loads(os.environ["FIDELITY_ARGS"])
first = pytest.main(args)
second = pytest.main(args + ["-k", "not fails"])
print(f"exit codes: {int(first)} {int(second)}")
sys.exit(int(first) * 10 + int(second))
