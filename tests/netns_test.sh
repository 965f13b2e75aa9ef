#!/usr/bin/env bash
# Workers on other hosts, stood in for by network namespaces this test makes:
# the ventilator and the sink in a "hub" namespace, one worker in each of two
# more, each joined to the hub by a veth pair with private addresses. A job
# completes; then one worker's link goes down for 5 s mid-job and the job
# still completes with every task printed exactly once. Exits 77 (skipped)
# where namespaces cannot be made.
set -euo pipefail

bin=${1:?usage: netns_test.sh BUILD_DIR}
tag=$$
hub=zp$tag-hub a=zp$tag-a b=zp$tag-b
scratch=$(mktemp -d)
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "$hub" "$a" "$b"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

if ! ip netns add "$hub" 2>/dev/null; then
  echo "SKIPPED: cannot create network namespaces here (needs root and iproute2)"
  exit 77
fi
ip netns add "$a"
ip netns add "$b"
# veth pair NAME-in-hub/NAME-in-ns, hub side .1, worker side .2 of 10.77.N.0/24
link() {
  local ns=$1 net=$2
  ip link add "h$net-$tag" type veth peer name "w$net-$tag"
  ip link set "h$net-$tag" netns "$hub"
  ip link set "w$net-$tag" netns "$ns"
  ip -n "$hub" addr add "10.77.$net.1/24" dev "h$net-$tag"
  ip -n "$ns" addr add "10.77.$net.2/24" dev "w$net-$tag"
  ip -n "$hub" link set "h$net-$tag" up
  ip -n "$ns" link set "w$net-$tag" up
  ip -n "$ns" link set lo up
}
ip -n "$hub" link set lo up
link "$a" 1
link "$b" 2

# Each program is started with `ip netns exec` itself in the background, so
# $! is the program's own PID (ip execs it) and the trap can end it.
run_job() {  # NAME, ventilator options...; sets $sink and $ventilator
  local name=$1; shift
  ip netns exec "$hub" timeout 60 "$bin/sink/zpipe-sink" --bind tcp://0.0.0.0:5558 --format jsonl \
    --output "$scratch/$name.jsonl" </dev/null >/dev/null 2>"$scratch/$name-sink.err" &
  sink=$!; pids+=("$sink")
  ip netns exec "$hub" timeout 60 "$bin/ventilator/zpipe-ventilator" --bind tcp://0.0.0.0:5557 \
    --sink tcp://127.0.0.1:5558 --min-workers 2 "$@" </dev/null >/dev/null 2>"$scratch/$name-ventilator.err" &
  ventilator=$!; pids+=("$ventilator")
}
expect_every_task_once() {  # FILE, TOTAL
  local lines unique
  lines=$(wc -l <"$1")
  unique=$(grep -o '"task_id":[0-9]*' "$1" | sort -u | wc -l)
  if [[ $lines -ne $2 || $unique -ne $2 ]]; then
    echo "FAILED: $1 has $lines lines, $unique distinct task ids; expected $2 of each"
    exit 1
  fi
}

# Workers serve job after job, each pointed at the hub across its own link.
ip netns exec "$a" "$bin/worker/zpipe-worker" --ventilator tcp://10.77.1.1:5557 --sink tcp://10.77.1.1:5558 \
  --name host-a --threads 2 </dev/null >/dev/null 2>"$scratch/worker-a.err" &
pids+=($!)
ip netns exec "$b" "$bin/worker/zpipe-worker" --ventilator tcp://10.77.2.1:5557 --sink tcp://10.77.2.1:5558 \
  --name host-b --threads 2 </dev/null >/dev/null 2>"$scratch/worker-b.err" &
pids+=($!)

run_job first --count 2000 --kind square --batch 10
wait "$ventilator" && wait "$sink" || { echo "FAILED: the first job did not complete"; cat "$scratch"/first-*.err; exit 1; }
expect_every_task_once "$scratch/first.jsonl" 2000
grep -q 'host-a' "$scratch/first.jsonl" && grep -q 'host-b' "$scratch/first.jsonl" ||
  { echo "FAILED: both hosts should have run tasks of the first job"; exit 1; }
echo "first job: 2000 tasks from two hosts, each once"

# 400 tasks of 30 ms on 4 task loops: about 3 s of work, cut by the outage.
for _ in $(seq 400); do echo 30; done >"$scratch/tasks.txt"
run_job outage --input "$scratch/tasks.txt" --kind sleep
for _ in $(seq 100); do  # until some results are in, 10 s at most
  [[ -s $scratch/outage.jsonl && $(wc -l <"$scratch/outage.jsonl") -ge 40 ]] && break
  sleep 0.1
done
echo "cutting host-a off at $(wc -l <"$scratch/outage.jsonl") results"
ip -n "$a" link set "w1-$tag" down
sleep 5
ip -n "$a" link set "w1-$tag" up
wait "$ventilator" && wait "$sink" || { echo "FAILED: the job with an outage did not complete"; cat "$scratch"/outage-*.err; exit 1; }
expect_every_task_once "$scratch/outage.jsonl" 400
echo "job with a 5 s outage of host-a: 400 tasks, each once"
grep -h "duplicates dropped\|tasks per worker" "$scratch/outage-sink.err"
grep -h "host-a is silent" "$scratch/outage-ventilator.err" || echo "(host-a was not taken for gone during the outage)"
