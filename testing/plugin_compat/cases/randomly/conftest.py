import os
import random
from pathlib import Path


def record(name, value):
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    with open(out / f"{os.getpid()}.txt", "a") as f:
        f.write(f"{name} {value}\n")
