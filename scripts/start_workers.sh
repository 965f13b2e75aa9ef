#!/usr/bin/env bash
# Starts W workers on this host, pointed at a ventilator and a sink that may
# run elsewhere, and stays in the foreground until they have all exited.
# SIGINT/SIGTERM stop every worker it started.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/start_workers.sh --ventilator ENDPOINT --sink ENDPOINT [--workers W] [--threads T] [--once]
  --ventilator E  the ventilator's endpoint, e.g. tcp://10.0.0.1:5557
  --sink E        the sink's endpoint, e.g. tcp://10.0.0.1:5558
  --workers W     worker processes to start            (default: one per core)
  --threads T     task loops in each                   (default 1)
  --once          exit when the job ends, instead of serving job after job
Builds the worker first if build/worker/zpipe-worker is missing.
USAGE
}

ventilator='' sink='' workers=$(nproc) threads=1 once=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --ventilator) ventilator=${2:?--ventilator needs a value}; shift 2 ;;
    --sink) sink=${2:?--sink needs a value}; shift 2 ;;
    --workers) workers=${2:?--workers needs a value}; shift 2 ;;
    --threads) threads=${2:?--threads needs a value}; shift 2 ;;
    --once) once=(--once); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "start_workers.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $ventilator && -n $sink ]] || { echo "start_workers.sh: --ventilator and --sink are required (see --help)" >&2; exit 2; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || { echo "start_workers.sh: --workers must be a positive number" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
worker=$root/build/worker/zpipe-worker
if [[ ! -x $worker ]]; then
  "$root/scripts/bootstrap.sh"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j"$(nproc)" --target zpipe-worker >/dev/null
fi

pids=()
stop() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; }
trap stop INT TERM
for i in $(seq "$workers"); do
  "$worker" --ventilator "$ventilator" --sink "$sink" --threads "$threads" --name "$(hostname):w$i" "${once[@]}" &
  pids+=($!)
done
echo "start_workers.sh: $workers worker(s) of $threads thread(s) started, taking work from $ventilator" >&2
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit "$status"
