#!/usr/bin/env bash
# Workers on other hosts, stood in for by network namespaces this test makes:
# the ventilator and the sink in a "hub" namespace, one worker in each of two
# more, each joined to the hub by a veth pair with private addresses. A job
# completes; then one worker's link goes down for 5 s mid-job, longer than
# the ventilator's --worker-timeout: the ventilator must take that worker for
# gone and deal its tasks again, and the job still completes with every task
# printed exactly once. Exits 77 (skipped) where namespaces cannot be made.
#
# The ports are fixed (5557, 5558): the hub namespace is made by this test and
# nothing else can bind in it.
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
fail() {  # MESSAGE; shows the logs of every job so far
  echo "FAILED: $1"
  for log in "$scratch"/*.err; do echo "--- $log"; cat "$log"; done
  exit 1
}
expect_every_task_once() {  # FILE, TOTAL: ids 1..TOTAL, each on exactly one line
  local lines unique
  lines=$(wc -l <"$1")
  unique=$(grep -o '"task_id":[0-9]*' "$1" | sort -u | wc -l)
  [[ $lines -eq $2 && $unique -eq $2 ]] || fail "$1 has $lines lines, $unique distinct task ids; expected $2 of each"
  [[ $(grep -o '"task_id":[0-9]*' "$1" | cut -d: -f2 | sort -n | sed -n '1p;$p' | paste -sd ' ') == "1 $2" ]] ||
    fail "$1: the task ids are not 1..$2"
}
expect_summaries() {  # NAME, TOTAL: both programs' own counts, exactly
  grep -q "complete: $2 of $2 tasks, $2 ok, 0 failed" "$scratch/$1-sink.err" ||
    fail "the sink of job $1 does not report $2 of $2 tasks ok"
  grep -q "job complete: $2 tasks read, $2 acknowledged, " "$scratch/$1-ventilator.err" ||
    fail "the ventilator of job $1 does not report $2 tasks read and $2 acknowledged"
}

# Workers serve job after job, each pointed at the hub across its own link.
ip netns exec "$a" "$bin/worker/zpipe-worker" --ventilator tcp://10.77.1.1:5557 --sink tcp://10.77.1.1:5558 \
  --name host-a --threads 2 </dev/null >/dev/null 2>"$scratch/worker-a.err" &
pids+=($!)
ip netns exec "$b" "$bin/worker/zpipe-worker" --ventilator tcp://10.77.2.1:5557 --sink tcp://10.77.2.1:5558 \
  --name host-b --threads 2 </dev/null >/dev/null 2>"$scratch/worker-b.err" &
pids+=($!)

run_job first --count 2000 --kind square --batch 10
wait "$ventilator" && wait "$sink" || fail "the first job did not complete"
expect_every_task_once "$scratch/first.jsonl" 2000
expect_summaries first 2000
grep -q '"worker":"host-a"' "$scratch/first.jsonl" && grep -q '"worker":"host-b"' "$scratch/first.jsonl" ||
  fail "both hosts should have run tasks of the first job"
echo "first job: 2000 tasks from two hosts, each once"

# 400 tasks of 30 ms on 4 task loops: about 3 s of work. The job cannot end
# before host-a has been silent for the 2 s worker timeout: tasks host-a holds
# are done only once dealt again (or once its link is back, after 5 s), and
# with 150 or more tasks left, host-b alone needs 2.25 s or more.
timeout_ms=2000
for _ in $(seq 400); do echo 30; done >"$scratch/tasks.txt"
run_job outage --input "$scratch/tasks.txt" --kind sleep --worker-timeout "$timeout_ms"
for _ in $(seq 100); do  # until some results are in, 10 s at most
  [[ -s $scratch/outage.jsonl && $(wc -l <"$scratch/outage.jsonl") -ge 40 ]] && break
  sleep 0.1
done
results_at_cut=$(wc -l <"$scratch/outage.jsonl" 2>/dev/null || echo 0)
[[ $results_at_cut -ge 40 ]] || fail "only $results_at_cut results of the second job after 10 s"
[[ $results_at_cut -le 250 ]] || fail "$results_at_cut results before the cut: too few tasks left to outlast the worker timeout"
kill -0 "$ventilator" 2>/dev/null || fail "the second job ended before host-a could be cut off"
echo "cutting host-a off at $results_at_cut results"
ip -n "$a" link set "w1-$tag" down
sleep 5  # the outage itself, 2.5 times the worker timeout
# Taken for gone while still cut off: a ventilator that noticed only once
# host-a was back (it reconnects and says hello again) would pass the checks
# below, without ever dealing again what a silent worker held.
vlog=$scratch/outage-ventilator.err
gone_pattern="worker host-a is silent for $timeout_ms ms; taken for gone: dealing its [0-9]* task(s) again"
grep -q "$gone_pattern" "$vlog" || fail "the ventilator did not take host-a for gone within its 5 s outage"
ip -n "$a" link set "w1-$tag" up
wait "$ventilator" && wait "$sink" || fail "the job with an outage did not complete"
expect_every_task_once "$scratch/outage.jsonl" 400
expect_summaries outage 400
grep -h "duplicates dropped\|tasks per worker" "$scratch/outage-sink.err"

# host-a, and only host-a, was taken for gone, and what it held was dealt
# again. (It may have held nothing: the ventilator can have dealt the rest of
# the input to host-b already.)
gone=$(grep -c "$gone_pattern" "$vlog" || true)
! grep -q "worker host-b is silent" "$vlog" || fail "host-b was taken for gone, but only host-a was cut off"
taken_back=$(sed -n 's/.*worker host-a is silent.*dealing its \([0-9]*\) task(s) again.*/\1/p' "$vlog" | awk '{ sum += $1 } END { print sum + 0 }')
summary=$(grep "job complete: " "$vlog")
dealt_again=$(sed -n 's/.* acknowledged, \([0-9]*\) dealt again, .*/\1/p' <<<"$summary")
lost=$(sed -n 's/.*worker(s) (\([0-9]*\) lost).*/\1/p' <<<"$summary")
[[ $lost -eq $gone ]] || fail "the ventilator counts $lost workers lost, but took host-a for gone $gone time(s)"
[[ $dealt_again -ge $taken_back ]] || fail "$dealt_again tasks dealt again, fewer than the $taken_back host-a held"
echo "job with a 5 s outage of host-a: 400 tasks, each once; host-a taken for gone during the outage and the $taken_back task(s) it held dealt again"
