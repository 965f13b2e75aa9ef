#!/usr/bin/env bash
# Measures zpipe's end-to-end throughput for trivial tasks beside the raw
# ZeroMQ relay (tests/bench/raw_relay.cpp) with frames of the same size, and
# the peak memory of each program. Every process started here is bounded by
# `timeout` and gone when it returns.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/bench.sh [--runs R] [--tasks N] [--quick] [--many-workers]
Builds a Release build in build-bench/, then runs jobs of square tasks (sink
output to /dev/null) with batch 1, 64 and 1024 and 1 and 2 workers, each beside
zpipe-raw-relay with frames the size of that batch's task frame, and a job ten
times as long (batch 1024, 2 workers) to show memory stays flat; then the Python
numbers (scripts/bench_python.sh).
  --runs R   runs per configuration; rates are medians   (default 3)
  --tasks N  tasks per job                                (default 3000000)
  --quick    1 run each, 200000 tasks (long job 2000000)
  --many-workers  only this part: one ventilator with 100, 1,000 and 10,000
             simulated workers (tests/bench/many_workers.cpp), 1,000,000 tasks
             at batch 1 (100,000 with --quick): its RSS per worker, the time
             to deal, the spread of tasks per worker (a few minutes)
Table on stdout, progress on stderr. Exit status: 0 when every run completed,
whether or not it met its target; 1 when a run failed; 2 usage.
USAGE
}

runs=3 tasks=3000000 many_workers=0 quick=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) runs=${2:?--runs needs a value}; shift 2 ;;
    --tasks) tasks=${2:?--tasks needs a value}; shift 2 ;;
    --quick) runs=1 tasks=200000 quick=1; shift ;;
    --many-workers) many_workers=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "bench.sh: --runs must be 1 to 99" >&2; exit 2; }
[[ $tasks =~ ^[1-9][0-9]{3,8}$ ]] || { echo "bench.sh: --tasks must be 1000 to 999999999" >&2; exit 2; }
long_tasks=$((tasks * 10))
raw_min_messages=100000  # enough frames for a steady rate at batch 1024
job_limit=60 long_limit=300  # seconds any one program may run

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
tmp=$(mktemp -d)
running=()  # pids of `timeout` processes not yet waited for
cleanup() {
  local pid
  for pid in "${running[@]}"; do kill -TERM -- "-$pid" "$pid" 2>/dev/null || true; done
  for pid in "${running[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

log "building $build"
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$build" -j"$(nproc)" --target zpipe-sink zpipe-worker zpipe-ventilator zpipe-raw-relay zpipe-keygen
     } >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  exit 1
fi

# Peak RSS in KiB: GNU time where it is installed, else VmHWM sampled every 50 ms.
if /usr/bin/time -q -f %M -o /dev/null true 2>/dev/null; then
  peak_rss=(/usr/bin/time -q -f %M -o)
else
  cat >"$tmp/peak-rss" <<'WRAPPER'
#!/usr/bin/env bash
# peak-rss FILE COMMAND...: runs COMMAND and writes its last VmHWM (KiB) to FILE.
out=$1; shift
"$@" & pid=$! peak=0
while kill -0 "$pid" 2>/dev/null; do
  while read -r key value _; do [[ $key == VmHWM: ]] && peak=$value; done <"/proc/$pid/status" 2>/dev/null
  sleep 0.05
done
status=0; wait "$pid" || status=$?
echo "$peak" >"$out"
exit "$status"
WRAPPER
  chmod +x "$tmp/peak-rss"
  peak_rss=("$tmp/peak-rss")
fi

source "$root/scripts/lib/bound_endpoint.sh"
source "$root/scripts/lib/many_workers.sh"

if ((many_workers)); then
  many_workers_part "$( ((quick)) && echo 100000 || echo 1000000)" || exit 1
  exit 0
fi

# start NAME LIMIT COMMAND...: runs COMMAND in the background for at most LIMIT
# seconds, its stdout, stderr and peak RSS in $run_dir/NAME.{out,err,rss}.
start() {
  local name=$1 limit=$2; shift 2
  timeout -k 2 "$limit" "${peak_rss[@]}" "$run_dir/$name.rss" "$@" \
    >"$run_dir/$name.out" 2>"$run_dir/$name.err" &
  started=$!
  running+=("$started")
}

# finish PID NAME: waits for a program started here; a failure ends the script.
finish() {
  local status=0 pid kept=()
  wait "$1" || status=$?
  for pid in "${running[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  running=("${kept[@]}")
  if [[ $status -ne 0 ]]; then
    log "$2 failed with exit status $status$([[ $status -eq 124 ]] && echo ' (timed out)'):"
    tail -n 20 "$run_dir/$2.err" >&2
    exit 1
  fi
}

# endpoint_of NAME MARKER PID: prints where program NAME (started here with
# --bind tcp://127.0.0.1:*) bound, read from its log; once it is there, the
# program listens. Ends the script when it is not there within 10 s.
endpoint_of() {
  bound_endpoint "$run_dir/$1.err" "$2" "$3" || { log "$1 did not say where it listens"; exit 1; }
}

new_run_dir() { run_dir=$(mktemp -d "$tmp/run.XXXXXX"); }
kib() { tail -n 1 "$run_dir/$1.rss"; }

# zpipe_job TASKS BATCH WORKERS LIMIT: sets rate (tasks/s, the sink's own
# timing) and vent_kib, sink_kib, worker_kib (the largest worker). The sink's
# clock starts when it accepts the job, so the workers start only once the
# ventilator listens: a worker whose first connect is refused retries 100 ms
# later, and that wait would count as work.
zpipe_job() {
  local tasks=$1 batch=$2 workers=$3 limit=$4 sink vent i seconds worker sink_endpoint vent_endpoint
  local -a workers_started=()
  new_run_dir
  start sink "$limit" "$build/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' \
    --output /dev/null --progress never "${sink_extra[@]}"
  sink=$started
  sink_endpoint=$(endpoint_of sink "collecting results at " "$sink") || exit 1
  start ventilator "$limit" "$build/ventilator/zpipe-ventilator" --bind 'tcp://127.0.0.1:*' \
    --sink "$sink_endpoint" --count "$tasks" --kind square --batch "$batch" \
    --min-workers "$workers" "${ventilator_extra[@]}"
  vent=$started
  vent_endpoint=$(endpoint_of ventilator "workers connect to " "$vent") || exit 1
  for i in $(seq "$workers"); do
    start "worker$i" "$limit" "$build/worker/zpipe-worker" --ventilator "$vent_endpoint" \
      --sink "$sink_endpoint" --once --name "worker-$i" "${worker_extra[@]}"
    workers_started+=("$started")
  done
  finish "$vent" ventilator
  finish "$sink" sink
  for i in $(seq "$workers"); do finish "${workers_started[i - 1]}" "worker$i"; done
  seconds=$(sed -n 's/.* complete: .* in \([0-9.]*\) s (.*/\1/p' "$run_dir/sink.err")
  [[ -n $seconds ]] || { log "no summary from the sink:"; cat "$run_dir/sink.err" >&2; exit 1; }
  rate=$(awk -v n="$tasks" -v s="$seconds" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.001) }')
  vent_kib=$(kib ventilator) sink_kib=$(kib sink) worker_kib=0
  for i in $(seq "$workers"); do
    worker=$(kib "worker$i")
    if (( worker > worker_kib )); then worker_kib=$worker; fi
  done
}

sink_extra=() ventilator_extra=() worker_extra=()  # more options for zpipe_job

# death_to_done kill|stop TIMEOUT_MS: a job of 40 sleep tasks of 50 ms on two
# workers; 0.5 s in, one is killed (its connection closes) or stopped (it goes
# silent, as a host that disappears does). Sets detected_s (seconds from the
# kill until the ventilator deals its tasks again) and done_s (until the job
# ends).
death_to_done() {
  local how=$1; shift
  local sink vent survivor victim_name="victim-$$-$RANDOM" killed_at sink_endpoint vent_endpoint
  new_run_dir
  for _ in $(seq 40); do echo 50; done >"$run_dir/tasks.txt"
  start sink "$job_limit" "$build/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' --output /dev/null
  sink=$started
  sink_endpoint=$(endpoint_of sink "collecting results at " "$sink") || exit 1
  start ventilator "$job_limit" "$build/ventilator/zpipe-ventilator" --bind 'tcp://127.0.0.1:*' \
    --sink "$sink_endpoint" --input "$run_dir/tasks.txt" --kind sleep --min-workers 2 \
    --worker-timeout "$1"
  vent=$started
  vent_endpoint=$(endpoint_of ventilator "workers connect to " "$vent") || exit 1
  start victim "$job_limit" "$build/worker/zpipe-worker" --ventilator "$vent_endpoint" \
    --sink "$sink_endpoint" --once --name "$victim_name"
  start survivor "$job_limit" "$build/worker/zpipe-worker" --ventilator "$vent_endpoint" \
    --sink "$sink_endpoint" --once --name survivor
  survivor=$started
  sleep 0.5
  if [[ $how == kill ]]; then pkill -9 -f -- "--name $victim_name"; else pkill -STOP -f -- "--name $victim_name"; fi
  killed_at=$(date +%s.%N) detected_s=''
  while kill -0 "$vent" 2>/dev/null; do
    [[ -z $detected_s ]] && grep -q "worker $victim_name .*dealing its" "$run_dir/ventilator.err" &&
      detected_s=$(awk -v a="$killed_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    sleep 0.005
  done
  done_s=$(awk -v a="$killed_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  pkill -9 -f -- "--name $victim_name" || true
  finish "$vent" ventilator
  finish "$sink" sink
  finish "$survivor" survivor
}

# raw_relay MESSAGES BYTES WORKERS: sets rate (messages/s).
raw_relay() {
  new_run_dir
  start relay "$job_limit" "$build/tests/zpipe-raw-relay" --messages "$1" --bytes "$2" --workers "$3"
  finish "$started" relay
  rate=$(cat "$run_dir/relay.out")
}

# Bytes of a `tasks` frame of BATCH square tasks of a job of TASKS (PROTOCOL.md
# §2-3): [1, 4, job u64, "square", ids, payloads], where task i carries i, so
# each task costs twice the mean msgpack size of the integers 1..TASKS.
frame_bytes() {
  local batch=$1 tasks=$2 int_bytes=0 low=1 bound high size array
  for bound in 127:1 255:2 65535:3 4294967295:5; do
    high=${bound%:*} size=${bound#*:}
    (( low <= tasks )) || break
    (( int_bytes += ((tasks < high ? tasks : high) - low + 1) * size, low = high + 1 ))
  done
  array=$(( batch < 16 ? 1 : batch < 65536 ? 3 : 5 ))
  echo $(( 1 + 1 + 1 + 9 + 7 + 2 * array + batch * 2 * int_bytes / tasks ))
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
max() { printf '%s\n' "$@" | sort -g | tail -n 1; }
rate_text() { awk -v r="$1" 'BEGIN { if (r >= 1e6) printf "%.2fM", r / 1e6; else printf "%.0fk", r / 1e3 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }

row() { printf '%-7s %5s %7s %11s %11s %11s %9s %8s %8s %9s  %s\n' "$@"; }
rows=()
for batch in 1 64 1024; do
  for workers in 1 2; do
    bytes=$(frame_bytes "$batch" "$tasks")
    messages=$(( tasks / batch > raw_min_messages ? tasks / batch : raw_min_messages ))
    zpipe_rates=() raw_rates=() vents=() sinks=() workers_kib=()
    for run in $(seq "$runs"); do
      zpipe_job "$tasks" "$batch" "$workers" "$job_limit"
      zpipe_rates+=("$rate") vents+=("$vent_kib") sinks+=("$sink_kib") workers_kib+=("$worker_kib")
      raw_relay "$messages" "$bytes" "$workers"
      raw_rates+=("$rate")
      log "$workers worker(s), batch $batch, run $run/$runs: zpipe $(rate_text "${zpipe_rates[-1]}") tasks/s," \
          "raw relay $(rate_text "$rate") messages/s of $bytes B"
    done
    zpipe=$(median "${zpipe_rates[@]}") raw=$(median "${raw_rates[@]}")
    raw_tasks=$((raw * batch))
    ratio=$(awk -v z="$zpipe" -v r="$raw_tasks" 'BEGIN { printf "%.2f", z / r }')
    if [[ $batch -eq 1 ]]; then
      target="zpipe/raw >= 0.5: $(awk -v x="$ratio" 'BEGIN { print (x >= 0.5 ? "ok" : "MISSED") }')"
    else
      target=">= 5M tasks/s: $(awk -v z="$zpipe" 'BEGIN { print (z >= 5e6 ? "ok" : "MISSED") }')"
    fi
    rows+=("$(row "$workers" "$batch" "$bytes" "$(rate_text "$zpipe")" "$(rate_text "$raw")" \
      "$(rate_text "$raw_tasks")" "$ratio" "$(mb "$(max "${vents[@]}")")" "$(mb "$(max "${sinks[@]}")")" \
      "$(mb "$(max "${workers_kib[@]}")")" "$target")")
    if [[ $batch -eq 1024 && $workers -eq 2 ]]; then
      short_vent=$(max "${vents[@]}") short_sink=$(max "${sinks[@]}") short_worker=$(max "${workers_kib[@]}")
      short_rate=$zpipe
    fi
  done
done

log "cost of the protocol: sink --journal, batch 1024, 2 workers"
journal_rates=()
for run in $(seq "$runs"); do
  sink_extra=(--journal "$tmp/journal-$run")
  zpipe_job "$tasks" 1024 2 "$job_limit"
  journal_rates+=("$rate")
  sink_extra=()
done
journal=$(median "${journal_rates[@]}")

log "cost of security: CURVE on every link and task leases checked, batch 1024, 2 workers"
keys="$tmp/keys"
mkdir -p "$keys/workers" "$keys/ventilators"
for name in sink ventilator worker; do (cd "$keys" && "$build/shared/zpipe-keygen" "$name" >/dev/null); done
cp "$keys/worker.pub" "$keys/workers/"
cp "$keys/ventilator.pub" "$keys/ventilators/"
curve_rates=()
for run in $(seq "$runs"); do
  sink_extra=(--curve-secret "$keys/sink.key" --allow-workers "$keys/workers" --allow-ventilators "$keys/ventilators")
  ventilator_extra=(--curve-secret "$keys/ventilator.key" --allow-workers "$keys/workers" --sink-key "$keys/sink.pub")
  worker_extra=(--curve-secret "$keys/worker.key" --ventilator-key "$keys/ventilator.pub" --sink-key "$keys/sink.pub")
  zpipe_job "$tasks" 1024 2 "$job_limit"
  curve_rates+=("$rate")
  sink_extra=() ventilator_extra=() worker_extra=()
done
curve=$(median "${curve_rates[@]}")
log "time from a worker's death to its tasks done elsewhere"
death_rows=()
for how in kill stop; do
  for timeout_ms in 3000 1000; do
    death_to_done "$how" "$timeout_ms"
    if [[ $how == kill ]]; then
      target="dealt again <= 0.1 s: $(awk -v d="${detected_s:-99}" 'BEGIN { print (d <= 0.1 ? "ok" : "MISSED") }')"
    else
      target="noticed by silence, as a host gone: about the timeout"
    fi
    death_rows+=("$(printf '%-17s %-16s %12s %12s  %s' "$how" "$timeout_ms" "${detected_s:-never}" "$done_s" "$target")")
  done
done

log "long job: $long_tasks tasks, batch 1024, 2 workers"
zpipe_job "$long_tasks" 1024 2 "$long_limit"
flat=$(( vent_kib * 1024 < 50000000 && sink_kib * 1024 < 50000000 ))

echo "zpipe vs raw ZeroMQ relay: $tasks square tasks per job, median of $runs run(s); raw relay frames as large as" \
     "the task frame, max(tasks/batch, $raw_min_messages) of them; peak RSS in MB, the largest of the runs"
row workers batch frame_B zpipe_t/s raw_msg/s raw_t/s zpipe/raw vent_MB sink_MB worker_MB target
printf '%s\n' "${rows[@]}"
echo
echo "memory over a longer job (batch 1024, 2 workers; one run of $long_tasks tasks)"
printf '%-9s %11s %8s %8s %8s  %s\n' tasks zpipe_t/s vent_MB sink_MB worker_MB target
printf '%-9s %11s %8s %8s %8s\n' "$tasks" "$(rate_text "$short_rate")" "$(mb "$short_vent")" "$(mb "$short_sink")" \
  "$(mb "$short_worker")"
printf '%-9s %11s %8s %8s %8s  %s\n' "$long_tasks" "$(rate_text "$rate")" "$(mb "$vent_kib")" "$(mb "$sink_kib")" \
  "$(mb "$worker_kib")" "vent, sink < 50 MB: $( ((flat)) && echo ok || echo MISSED)"
echo
echo "cost of the protocol (batch 1024, 2 workers, median of $runs run(s)): acknowledgements and redelivery are"
echo "always on, so every rate above includes them; the journal adds durability (fsync every 20 ms)"
printf '%-34s %11s %9s  %s\n' sink zpipe_t/s vs_above target
printf '%-34s %11s %9s\n' "acknowledging (as above)" "$(rate_text "$short_rate")" 1.00
printf '%-34s %11s %9s  %s\n' "acknowledging after fsync (--journal)" "$(rate_text "$journal")" \
  "$(awk -v j="$journal" -v s="$short_rate" 'BEGIN { printf "%.2f", j / s }')" \
  ">= 0.8: $(awk -v j="$journal" -v s="$short_rate" 'BEGIN { print (j >= 0.8 * s ? "ok" : "MISSED") }')"
printf '%-34s %11s %9s  %s\n' "CURVE everywhere, leases checked" "$(rate_text "$curve")" \
  "$(awk -v j="$curve" -v s="$short_rate" 'BEGIN { printf "%.2f", j / s }')" \
  ">= 0.8: $(awk -v j="$curve" -v s="$short_rate" 'BEGIN { print (j >= 0.8 * s ? "ok" : "MISSED") }')"
echo
echo "a worker killed (kill -9: its connection closes) or stopped (SIGSTOP: it goes silent) mid-job: seconds until"
echo "the ventilator deals its tasks again, and until the job is done"
printf '%-17s %-16s %12s %12s\n' worker --worker-timeout dealt_again_s done_s
printf '%s\n' "${death_rows[@]}"

# The Python package (python/): its own script, on this Release build, when
# pybind11-dev is there to build zpipe._engine.
if cmake --build "$build" -j"$(nproc)" --target zpipe_python_engine >"$tmp/python-build.log" 2>&1; then
  echo
  "$root/scripts/bench_python.sh" --build "$build"
else
  log "zpipe._engine did not build (is pybind11-dev installed?); no Python numbers"
fi
