#!/usr/bin/env bash
# What an eavesdropper on the wire sees: tshark captures loopback traffic on
# a job's ports while a task with a marker payload travels through. In
# plaintext the marker is in the capture; with CURVE keys it is not. Exits 77
# (skipped) where tshark is missing or cannot capture.
#
# The sink and the ventilator bind ports the kernel picks (read back from
# their logs); the capture starts once those are known, and the worker, and
# with it every task, only once the capture runs.
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

source "$(dirname "$0")/../scripts/lib/bound_endpoint.sh"

marker="zpipe-marker-$$-$RANDOM"
printf '%s\n' "$marker" "$marker" >"$scratch/tasks.txt"
cd "$scratch"
for name in sink ventilator worker; do "$bin/shared/zpipe-keygen" "$name" >/dev/null; done
mkdir workers ventilators
cp worker.pub workers/
cp ventilator.pub ventilators/

# Runs a job while capturing its two ports; prints how many times the marker
# appears in the raw capture.
capture_job() {  # MODE (plain|curve)
  local v s sink_endpoint ventilator_endpoint sink_keys=() ventilator_keys=() worker_keys=()
  if [[ $1 == curve ]]; then
    sink_keys=(--curve-secret sink.key --allow-workers workers --allow-ventilators ventilators)
    ventilator_keys=(--curve-secret ventilator.key --allow-workers workers --sink-key sink.pub)
    worker_keys=(--curve-secret worker.key --ventilator-key ventilator.pub --sink-key sink.pub)
  fi
  timeout 60 "$bin/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' --format jsonl --output "$1.jsonl" \
    "${sink_keys[@]}" 2>"$1-sink.err" &
  local sink=$!; pids+=("$sink")
  sink_endpoint=$(bound_endpoint "$1-sink.err" "collecting results at " "$sink") ||
    { echo "FAILED: the $1 sink did not start" >&2; exit 1; }
  timeout 60 "$bin/ventilator/zpipe-ventilator" --bind 'tcp://127.0.0.1:*' --sink "$sink_endpoint" \
    --input tasks.txt --kind fail "${ventilator_keys[@]}" 2>"$1-ventilator.err" &
  local ventilator=$!; pids+=("$ventilator")
  ventilator_endpoint=$(bound_endpoint "$1-ventilator.err" "workers connect to " "$ventilator") ||
    { echo "FAILED: the $1 ventilator did not start" >&2; exit 1; }
  v=${ventilator_endpoint##*:} s=${sink_endpoint##*:}

  # tcp and udp: a udp datagram to one of the ports marks the capture's end.
  timeout 60 tshark -q -i lo -f "port $v or port $s" -w "$1.pcap" 2>"$1-tshark.err" &
  local tshark=$!; pids+=("$tshark")
  for _ in $(seq 100); do grep -q "Capturing on" "$1-tshark.err" 2>/dev/null && break; sleep 0.1; done
  grep -q "Capturing on" "$1-tshark.err" || { echo "SKIPPED: tshark cannot capture here: $(cat "$1-tshark.err")" >&2; exit 77; }
  timeout 60 "$bin/worker/zpipe-worker" --ventilator "$ventilator_endpoint" --sink "$sink_endpoint" --once \
    "${worker_keys[@]}" 2>"$1-worker.err" &
  pids+=($!)
  wait "$ventilator" || true
  wait "$sink" || true  # exit 1: the tasks fail on purpose, quoting their payload
  [[ $(wc -l <"$1.jsonl") -eq 2 ]] || { echo "FAILED: the $1 job did not complete" >&2; cat "$1"-*.err >&2; exit 1; }

  # Packets reach the capture in order: once a datagram sent now is in the
  # file, so is all of the job. Sent again every 0.1 s, for 10 s at most.
  local end_mark="zpipe-capture-end-$$-$1"
  for _ in $(seq 100); do
    echo "$end_mark" >"/dev/udp/127.0.0.1/$v" 2>/dev/null || true
    grep -aq "$end_mark" "$1.pcap" 2>/dev/null && break
    sleep 0.1
  done
  kill -INT "$tshark"; wait "$tshark" 2>/dev/null || true
  grep -aq "$end_mark" "$1.pcap" ||
    { echo "FAILED: the $1 capture never showed its end mark: $(cat "$1-tshark.err")" >&2; exit 1; }
  grep -ac "$marker" "$1.pcap" || true
}

plain=$(capture_job plain)
curve=$(capture_job curve)
echo "marker seen in the capture: plaintext $plain time(s), CURVE $curve time(s)"
[[ $plain -gt 0 ]] || { echo "FAILED: the marker should be visible in plaintext (is the capture working?)"; exit 1; }
[[ $curve -eq 0 ]] || { echo "FAILED: the marker is visible on the wire with CURVE"; exit 1; }
