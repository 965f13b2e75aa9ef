#!/usr/bin/env bash
# Runs the job protocol's fault simulation (tests/sim/) over many seeds, in
# parallel, or replays one seed with its trace.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/simulate.sh [--seeds N] [--first S] [--jobs J]
       scripts/simulate.sh --seed S [--trace]
  --seeds N   run seeds S..S+N-1 (default 10000, S from --first, default 1)
  --jobs J    split the seeds over J processes (default: the number of cores)
  --seed S    run one seed; --trace prints its last steps
Builds zpipe-simulate in build-test/ first. A failing seed prints the
command that replays it; the exit status is 1 if any seed failed.
USAGE
}
seeds=10000 first=1 jobs=$(nproc) one=() trace=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --seeds) seeds=$2; shift 2 ;;
    --first) first=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --seed) one=(--seed "$2"); shift 2 ;;
    --trace) trace=(--trace); shift ;;
    *) echo "simulate.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-test
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target zpipe-simulate >/dev/null
simulate=$build/tests/zpipe-simulate

if [[ ${#one[@]} -gt 0 ]]; then
  exec "$simulate" "${one[@]}" "${trace[@]}"
fi

# Each process takes a contiguous range of seeds; their summaries are added up.
started=$(date +%s.%N)
outputs=$(mktemp -d)
trap 'rm -rf "$outputs"' EXIT
per_job=$(( (seeds + jobs - 1) / jobs ))
pids=()
for (( j = 0; j < jobs; j++ )); do
  start=$(( first + j * per_job ))
  count=$(( seeds - j * per_job < per_job ? seeds - j * per_job : per_job ))
  (( count > 0 )) || break
  "$simulate" --first "$start" --seeds "$count" >"$outputs/$j.out" 2>"$outputs/$j.err" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
cat "$outputs"/*.err | grep -A1 '^FAILED' >&2 || true
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
read -r ok failed <<<"$(cat "$outputs"/*.out | awk '/ passed, / {p += $1; f += $3} END {print p + 0, f + 0}')"
awk -v n="$seeds" -v s="$elapsed" -v j="${#pids[@]}" \
  'BEGIN {printf "simulate: %d seeds in %.1f s on %d process(es), %.0f seeds/hour\n", n, s, j, n / s * 3600}'
echo "$ok passed, $failed failed"
exit $status
