#!/usr/bin/env bash
# zpipe-latency-probe through `cat` (every line comes back) times every task;
# through a filter that loses or garbles lines it fails instead of reporting
# a figure. Usage: latency_probe_test.sh BUILD_DIR
set -euo pipefail
probe=$1/tests/zpipe-latency-probe
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/in" "$tmp/out"

# through FILTER...: runs the probe with FILTER between its two fifos.
through() {
  timeout 30 "$probe" --to "$tmp/in" --from "$tmp/out" --rate 2000 --count 200 >"$tmp/probe.out" 2>"$tmp/probe.err" &
  local pid=$! status=0
  timeout 30 sh -c 'out=$0 in=$1; shift; exec "$@" >"$out" <"$in"' "$tmp/out" "$tmp/in" "$@" 2>/dev/null || true
  wait "$pid" || status=$?
  return "$status"
}

through cat
grep -Eq '^samples=200 p50_us=[0-9.]+ p99_us=[0-9.]+ p999_us=[0-9.]+ max_us=[0-9.]+$' "$tmp/probe.out" ||
  { echo "FAIL: through cat: $(cat "$tmp/probe.out" "$tmp/probe.err")"; exit 1; }

status=0; through sed -u 's/^1[0-9]$/x/' || status=$?
[[ $status -eq 1 ]] && grep -q "unexpected result line 'x'" "$tmp/probe.err" ||
  { echo "FAIL: a garbled line gave status $status: $(cat "$tmp/probe.out" "$tmp/probe.err")"; exit 1; }

status=0; through sed -u 's/^2$/task 2: 5/' || status=$?
[[ $status -eq 1 ]] && grep -q "not the square" "$tmp/probe.err" ||
  { echo "FAIL: a wrong square gave status $status: $(cat "$tmp/probe.out" "$tmp/probe.err")"; exit 1; }
echo "ok"
