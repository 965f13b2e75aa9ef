#!/usr/bin/env bash
# The Python numbers of issue 11, from one run: trivial tasks/s on one Python
# worker process, a job submitted from Python to 2 C++ workers, and the
# multiprocessing.managers master/worker script it replaces. scripts/bench.sh
# runs it after its own table; every process is bounded by `timeout`.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/bench_python.sh [--build DIR] [--tasks N] [--baseline-tasks M]
  --build DIR         a build with zpipe._engine (default build-bench, built by scripts/bench.sh)
  --tasks N           tasks of the zpipe jobs             (default 1000000)
  --baseline-tasks M  tasks of the managers baseline     (default 20000)
Table on stdout, progress on stderr. Exit status 0 when every run completed,
whether or not it met its target; 1 when one failed; 2 usage.
USAGE
}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench tasks=1000000 baseline_tasks=20000
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --tasks) tasks=${2:?--tasks needs a value}; shift 2 ;;
    --baseline-tasks) baseline_tasks=${2:?--baseline-tasks needs a value}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_python.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $tasks =~ ^[1-9][0-9]{3,8}$ && $baseline_tasks =~ ^[1-9][0-9]{2,7}$ ]] ||
  { echo "bench_python.sh: --tasks and --baseline-tasks must be whole numbers (1000.., 100..)" >&2; exit 2; }
python=/usr/bin/python3  # Debian's, with python3-zmq and python3-msgpack
[[ -x $python ]] || python=python3
engine_dir=$(dirname "$(ls "$build"/python/_engine*.so 2>/dev/null | head -n 1)")
[[ -d $engine_dir && -x $build/worker/zpipe-worker ]] ||
  { echo "bench_python.sh: $build has no zpipe._engine or programs (scripts/bench.sh builds them)" >&2; exit 1; }
export PYTHONPATH=$root/python:$root/python/bench:$engine_dir

source "$root/scripts/lib/bound_endpoint.sh"
tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "bench_python: $*" >&2; }
rate_text() { awk -v r="$1" 'BEGIN { if (r >= 1e6) printf "%.2fM", r / 1e6; else printf "%.1fk", r / 1e3 }'; }

# 1. One Python worker process, trivial tasks, batch 1024: the sink's rate
#    (from the job's manifest to its last result).
log "python worker: $tasks noop tasks, batch 1024, 1 process"
setsid timeout 120 "$build/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' --output /dev/null --progress never 2>"$tmp/sink.log" &
pids+=($!)
sink=$(bound_endpoint "$tmp/sink.log" "collecting results at " "${pids[-1]}")
setsid timeout 120 "$build/ventilator/zpipe-ventilator" --bind 'tcp://127.0.0.1:*' --sink "$sink" --count "$tasks" \
  --kind noop --batch 1024 2>"$tmp/ventilator.log" &
pids+=($!)
ventilator_pid=$!
ventilator=$(bound_endpoint "$tmp/ventilator.log" "workers connect to " "$ventilator_pid")
setsid timeout 120 "$python" -m zpipe.worker trivial_tasks --processes 1 --once --ventilator "$ventilator" --sink "$sink" \
  2>"$tmp/worker.log" &
pids+=($!)
if ! wait "$ventilator_pid"; then cat "$tmp"/*.log >&2; exit 1; fi
for pid in "${pids[@]}"; do wait "$pid" || { cat "$tmp"/*.log >&2; exit 1; }; done
pids=()
worker_rate=$(grep -o '([0-9.]*M* tasks/s)' "$tmp/sink.log" | tr -d '(' | awk '{ r = $1; if (r ~ /M$/) { sub(/M/, "", r); r *= 1e6 } print r }')

# 2. A job of square tasks submitted from Python to 2 C++ workers: from the
#    call to zpipe.map to its checked list of results.
log "python submit: $tasks square tasks, batch 1024, 2 C++ workers"
submit_rate=$(timeout 120 "$python" "$root/python/bench/submit_square.py" "$build" "$tasks" 1024 2>"$tmp/submit.log") ||
  { cat "$tmp/submit.log" >&2; exit 1; }

# 3. The multiprocessing.managers master and worker.
log "multiprocessing.managers: $baseline_tasks square tasks, 1 worker process"
baseline_rate=$(timeout 120 "$python" "$root/python/bench/managers_baseline.py" "$baseline_tasks") || exit 1

printf '%-62s %12s %8s\n' "Python (scripts/bench_python.sh, one run)" "tasks/s" "target"
printf '%-62s %12s %8s\n' "one Python worker process, trivial tasks, batch 1024" "$(rate_text "$worker_rate")" "200k"
printf '%-62s %12s %8s\n' "$tasks square tasks submitted from Python, 2 C++ workers" "$(rate_text "$submit_rate")" "1M"
printf '%-62s %12s %8s\n' "multiprocessing.managers master + 1 worker process" "$(rate_text "$baseline_rate")" ""
