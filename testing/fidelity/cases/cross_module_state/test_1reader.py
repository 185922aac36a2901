import os
import sys

REGISTRY_ALREADY_IMPORTED = "test_0registry" in sys.modules


def test_reader():
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", "reader.txt"), "w") as f:
        f.write(f"registry_imported_first={REGISTRY_ALREADY_IMPORTED}\n")
