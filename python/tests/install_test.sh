#!/usr/bin/env bash
# pip install ./python into a venv made with --system-site-packages (so it
# takes Debian's python3-zmq and python3-msgpack), with the built engine, then
# use the installed package from another folder: --help, a worker's --help,
# and a job of 200 tasks submitted from Python and served by a Python worker.
set -euo pipefail
usage="usage: install_test.sh PYTHON3 PYTHON_SOURCE_DIR ENGINE_SO"
[[ ${1:-} == -h || ${1:-} == --help ]] && { echo "$usage"; exit 0; }
[[ $# -eq 3 ]] || { echo "$usage" >&2; exit 2; }
python=$1 source=$2 engine=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv --system-site-packages "$work/venv"
cp -r "$source" "$work/src"        # pip builds in the tree: keep the checkout clean
ZPIPE_ENGINE=$engine "$work/venv/bin/pip" install --no-index --quiet "$work/src"
cd "$work"
"$work/venv/bin/python" -m zpipe --help | grep -q "usage: python3 -m zpipe"
"$work/venv/bin/python" -m zpipe.worker --help | grep -q -- "--ventilator"
timeout 120 "$work/venv/bin/python" - <<'PY'
import subprocess, sys
import zpipe

def start_worker(job):
    global worker
    worker = subprocess.Popen([sys.executable, "-m", "zpipe.worker", "zpipe.builtin_kinds", "--once", "--processes", "1",
                               "--ventilator", job.endpoint, "--sink", job.sink_endpoint])

squares = zpipe.map("square", range(200), on_ready=start_worker, timeout=60)
assert squares == [n * n for n in range(200)], squares
assert worker.wait(30) == 0
assert zpipe.__file__.startswith(sys.prefix), zpipe.__file__
print("installed zpipe works:", zpipe.__file__)
PY
