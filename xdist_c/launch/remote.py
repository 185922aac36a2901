"""Bootstrap run in every worker (its source is sent by ``remote_exec``).

Kept minimal: it receives the start-up message, fixes ``sys.path`` and the
environment, builds the worker's pytest config, then hands over to
:mod:`xdist_c.worker`, which must be importable where the worker runs (popen
workers share the controller's environment; remote hosts need xdist-c
installed, see docs/remote.rst, online at https://xdist-c.readthedocs.io/en/latest/remote.html).  Nothing of xdist_c is imported before the
config exists: pytest must be able to mark the plugin for assertion
rewriting first.
"""

if __name__ == "__channelexec__":
    import os
    import sys

    channel = globals()["channel"]  # put there by execnet's remote_exec
    workerinput, args, option_dict, change_sys_path = channel.receive()
    if change_sys_path is None:
        importpath = os.getcwd()
        sys.path.insert(0, importpath)
        os.environ["PYTHONPATH"] = importpath + os.pathsep + os.environ.get("PYTHONPATH", "")
    else:
        sys.path[:] = change_sys_path
    os.environ["PYTEST_XDIST_TESTRUNUID"] = workerinput["testrunuid"]
    os.environ["PYTEST_XDIST_WORKER"] = workerinput["workerid"]
    os.environ["PYTEST_XDIST_WORKER_COUNT"] = str(workerinput["workercount"])

    def _not_installed(exc: ImportError) -> ImportError:
        import platform

        return ImportError(
            f"xdist-c is not installed for {sys.executable} on {platform.node()} "
            f"({type(exc).__name__}: {exc}); see https://xdist-c.readthedocs.io/en/latest/remote.html"
        )

    # compat-boundary: this source runs in the worker before xdist_c can be
    # imported (it may not be installed there), so it cannot go through
    # xdist_c._compat.pytest; pytest's private _prepareconfig (7.0-9.2) is
    # the config pytest.main would build, from the controller's arguments.
    try:
        from _pytest.config import _prepareconfig
    except ImportError as exc:
        raise _not_installed(exc) from None

    config = _prepareconfig(args, None)

    try:
        from xdist_c.worker import run_worker
    except ImportError as exc:
        raise _not_installed(exc) from None

    run_worker(channel, config, workerinput, option_dict)
