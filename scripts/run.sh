#!/usr/bin/env bash
# Installs what is missing, builds, and runs one real job on this host: a
# sink, W workers and a ventilator on loopback. Results go to stdout, logs and
# the summary to stderr; every process started here is gone when it returns.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/run.sh [--tasks N] [--workers W] [--kind KIND] [--batch B] [--format text|jsonl|csv]
  --tasks N     tasks in the job; task i carries the integer i   (default 1000)
  --workers W   worker processes                                 (default 2)
  --kind KIND   square, sleep, spin, primes or fail              (default square)
  --batch B     tasks per message                                (default 16)
  --format F    text, jsonl or csv                               (default text)
Exit status: the sink's (0 every task ok, 1 some failed, 2 usage, 3 could not run).
USAGE
}

tasks=1000 workers=2 kind=square batch=16 format=text
while [[ $# -gt 0 ]]; do
  case $1 in
    --tasks) tasks=${2:?--tasks needs a value}; shift 2 ;;
    --workers) workers=${2:?--workers needs a value}; shift 2 ;;
    --kind) kind=${2:?--kind needs a value}; shift 2 ;;
    --batch) batch=${2:?--batch needs a value}; shift 2 ;;
    --format) format=${2:?--format needs a value}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $workers =~ ^[1-9][0-9]*$ && $workers -le 64 ]] || { echo "run.sh: --workers must be 1 to 64" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
build=$root/build
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target zpipe-sink zpipe-worker zpipe-ventilator >/dev/null

source "$root/scripts/lib/bound_endpoint.sh"

logs=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The sink and the ventilator bind a port the kernel picks; their logs (shown
# as they come, and kept to read back where they bound) say which. Workers
# need both endpoints, so they start last; the ventilator deals once all
# --min-workers have said hello.
"$build/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' --format "$format" 2> >(tee "$logs/sink.err" >&2) &
sink=$!; pids+=("$sink")
sink_endpoint=$(bound_endpoint "$logs/sink.err" "collecting results at " "$sink") ||
  { echo "run.sh: the sink did not start" >&2; exit 3; }
"$build/ventilator/zpipe-ventilator" --bind 'tcp://127.0.0.1:*' --sink "$sink_endpoint" \
  --count "$tasks" --kind "$kind" --batch "$batch" --min-workers "$workers" 2> >(tee "$logs/ventilator.err" >&2) &
ventilator=$!; pids+=("$ventilator")
ventilator_endpoint=$(bound_endpoint "$logs/ventilator.err" "workers connect to " "$ventilator") ||
  { echo "run.sh: the ventilator did not start" >&2; exit 3; }
for i in $(seq "$workers"); do
  "$build/worker/zpipe-worker" --ventilator "$ventilator_endpoint" --sink "$sink_endpoint" --once --name "worker-$i" &
  pids+=($!)
done
ventilator_status=0
wait "$ventilator" || ventilator_status=$?
sink_status=0
wait "$sink" || sink_status=$?
# Workers were told the job is over; give them a moment to say goodbye.
for pid in "${pids[@]:2}"; do timeout 5 tail --pid="$pid" -f /dev/null || true; done
[[ $ventilator_status -eq 0 || $sink_status -ne 0 ]] || sink_status=$ventilator_status
exit "$sink_status"
