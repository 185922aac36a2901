import atexit
import os
import weakref

ROLE = "worker" if os.environ.get("PYTEST_XDIST_WORKER") else "controller"
_ROOT = os.getcwd()


def _write(what):
    os.makedirs(os.path.join(_ROOT, "out"), exist_ok=True)
    with open(os.path.join(_ROOT, "out", f"{what}-{os.getpid()}.txt"), "w") as f:
        f.write(f"{what} {ROLE}\n")


class Resource:
    pass


RESOURCE = Resource()
weakref.finalize(RESOURCE, _write, "finalize")
atexit.register(_write, "atexit")
