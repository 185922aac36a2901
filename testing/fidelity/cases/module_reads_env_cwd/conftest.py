import os

os.environ["FROM_CONFTEST"] = "yes"
os.environ.setdefault("SET_ONCE", str(os.getpid()))
