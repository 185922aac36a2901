#!/usr/bin/env bash
# Run bench_run.py on a machine with no network, from wheels carried there.
#
#   bash benchmarks/bench_offline.sh WHEELDIR [bench_run.py arguments...]
#
# WHEELDIR holds two folders of wheels for the machine's python3:
#   px/  pytest, its dependencies, execnet and pytest-xdist 3.8.0
#   xc/  the same without pytest-xdist, plus an xdist_c wheel
# (made with `pip download --no-deps --only-binary=:all:` and `pip wheel --no-deps .`).
# Each becomes its own virtual environment, so the products never share one, and the
# benchmark is pointed at them with --xdist-python / --xdist-c-python.
set -euo pipefail
wheels=$1; shift
py=${PYTHON:-python3}
venvs=${BENCH_VENVS:-/tmp/xc-bench-venvs}
for kind in px xc; do
    "$py" -m venv --without-pip "$venvs/$kind"
    "$py" -m pip --python "$venvs/$kind/bin/python" install -q --no-index --no-deps \
        --disable-pip-version-check "$wheels/$kind"/*.whl
done
(cd / && "$venvs/xc/bin/python" -c "import xdist_c._core")
exec "$py" "$(dirname "$0")/bench_run.py" \
    --xdist-python "$venvs/px/bin/python" --xdist-c-python "$venvs/xc/bin/python" "$@"
