#!/usr/bin/env bash
# What an eavesdropper on the wire sees: tshark captures loopback traffic on
# a job's ports while a task with a marker payload travels through. In
# plaintext the marker is in the capture; with CURVE keys it is not. Exits 77
# (skipped) where tshark is missing or cannot capture.
set -euo pipefail

bin=${1:?usage: capture_test.sh BUILD_DIR}
command -v tshark >/dev/null || { echo "SKIPPED: tshark is not installed"; exit 77; }
scratch=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

source "$(dirname "$0")/../scripts/lib/free_port.sh"

marker="zpipe-marker-$$-$RANDOM"
printf '%s\n' "$marker" "$marker" >"$scratch/tasks.txt"
cd "$scratch"
for name in sink ventilator worker; do "$bin/shared/zpipe-keygen" "$name" >/dev/null; done
mkdir sink-allows ventilator-allows
cp ventilator.pub worker.pub sink-allows/
cp worker.pub ventilator-allows/

# Runs a job while capturing its two ports; prints how many times the marker
# appears in the raw capture.
capture_job() {  # MODE (plain|curve)
  local v s sink_keys=() ventilator_keys=() worker_keys=()
  v=$(free_port) && s=$(free_port) || { echo "FAILED: no free port" >&2; exit 1; }
  if [[ $1 == curve ]]; then
    sink_keys=(--curve-secret sink.key --allow-keys sink-allows)
    ventilator_keys=(--curve-secret ventilator.key --allow-keys ventilator-allows --sink-key sink.pub)
    worker_keys=(--curve-secret worker.key --ventilator-key ventilator.pub --sink-key sink.pub)
  fi
  timeout 60 tshark -q -i lo -f "tcp port $v or tcp port $s" -w "$1.pcap" 2>"$1-tshark.err" &
  local tshark=$!; pids+=("$tshark")
  for _ in $(seq 100); do grep -q "Capturing on" "$1-tshark.err" && break; sleep 0.1; done
  grep -q "Capturing on" "$1-tshark.err" || { echo "SKIPPED: tshark cannot capture here: $(cat "$1-tshark.err")"; exit 77; }
  timeout 60 "$bin/sink/zpipe-sink" --bind "tcp://127.0.0.1:$s" --format jsonl --output "$1.jsonl" \
    "${sink_keys[@]}" 2>"$1-sink.err" &
  local sink=$!; pids+=("$sink")
  timeout 60 "$bin/worker/zpipe-worker" --ventilator "tcp://127.0.0.1:$v" --sink "tcp://127.0.0.1:$s" --once \
    "${worker_keys[@]}" 2>"$1-worker.err" &
  pids+=($!)
  timeout 60 "$bin/ventilator/zpipe-ventilator" --bind "tcp://127.0.0.1:$v" --sink "tcp://127.0.0.1:$s" \
    --input tasks.txt --kind fail "${ventilator_keys[@]}" 2>"$1-ventilator.err" || true
  wait "$sink" || true  # exit 1: the tasks fail on purpose, quoting their payload
  sleep 0.5            # let tshark write the last packets
  kill -INT "$tshark"; wait "$tshark" 2>/dev/null || true
  [[ $(wc -l <"$1.jsonl") -eq 2 ]] || { echo "FAILED: the $1 job did not complete"; cat "$1"-*.err; exit 1; }
  grep -ac "$marker" "$1.pcap" || true
}

plain=$(capture_job plain)
curve=$(capture_job curve)
echo "marker seen in the capture: plaintext $plain time(s), CURVE $curve time(s)"
[[ $plain -gt 0 ]] || { echo "FAILED: the marker should be visible in plaintext (is the capture working?)"; exit 1; }
[[ $curve -eq 0 ]] || { echo "FAILED: the marker is visible on the wire with CURVE"; exit 1; }
