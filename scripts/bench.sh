#!/usr/bin/env bash
# Measures zpipe's end-to-end throughput for trivial tasks beside the raw
# ZeroMQ relay (tests/bench/raw_relay.cpp) with frames of the same size, and
# the peak memory of each program. Every process started here is bounded by
# `timeout` and gone when it returns.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/bench.sh [--runs R] [--tasks N] [--commands C] [--quick]
                       [--exec-only | --latency | --scaling | --many-workers] [--workers-max W] [--plot DIR]
Builds a Release build in build-bench/, then runs jobs of square tasks (sink
output to /dev/null) with batch 1, 64 and 1024 and 1 and 2 workers, and batch 1
again as "1u" with workers started --bundle 1 (one task frame per message), each
beside zpipe-raw-relay with frames the size of that batch's task frame, and a job ten
times as long (batch 1024, 2 workers) to show memory stays flat; the CPU time
of every process per task beside the relay's per message; trivial shell
commands (`true`) through zpipe (2 workers of 1 thread) beside GNU parallel -j2
in the same run; jobs of 1 ms spin tasks on 1 to W workers (the speed-up); the
latency table (see --latency); then the Python numbers (scripts/bench_python.sh).
  --runs R         runs per configuration; rates are medians   (default 3)
  --tasks N        tasks per job                                (default 3000000)
  --commands C     shell commands per exec job, 100 to 9999999  (default 5000)
  --quick          1 run each, 200000 tasks (long job 2000000), 1000 commands,
                   500 spin tasks per worker (not 1500), 2 s latency runs (not 5 s)
  --exec-only      only the shell commands against GNU parallel (without parallel
                   installed, zpipe's figure alone)
  --latency        only the latency table: 1k and 10k tasks/s at batch 1, each task
                   timed from its line written to the ventilator's stdin to its result
                   line read from the sink's stdout (zpipe-latency-probe), beside the
                   raw relay at the same rates and the probe's own floor
  --scaling        only the spin-task speed-up from 1 to --workers-max workers
  --workers-max W  most workers for the speed-up, 1 to 64      (default: nproc)
  --plot DIR       also write PNGs and their data files into DIR (gnuplot; see
                   scripts/bootstrap.sh --for-bench) for the parts that run; with
                   no "only" option, every part runs, the latency table included
  --many-workers   only one ventilator with 100, 1,000 and 10,000 simulated workers
                   (tests/bench/many_workers.cpp), 1,000,000 tasks at batch 1
                   (100,000 with --quick): its RSS per worker, the time to deal, the
                   spread of tasks per worker (a few minutes)
At most one of --exec-only, --latency, --scaling and --many-workers. scripts/bootstrap.sh
--for-bench installs gnuplot and GNU parallel.
Table on stdout, progress on stderr. Exit status: 0 when every run completed,
whether or not it met its target; 1 when a run failed; 2 usage.
USAGE
}

runs=3 tasks=3000000 commands=5000 many_workers=0 quick=0 only='' workers_max=$(nproc) plot_dir=''
# needs_value OPTION [VALUE]: a usage error (exit 2) when OPTION came last or with an empty value.
needs_value() { [[ -n ${2-} ]] || { echo "bench.sh: $1 needs a value (see --help)" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) needs_value "$@"; runs=$2; shift 2 ;;
    --tasks) needs_value "$@"; tasks=$2; shift 2 ;;
    --commands) needs_value "$@"; commands=$2; shift 2 ;;
    --quick) runs=1 tasks=200000 commands=1000 quick=1; shift ;;
    --exec-only|--latency|--scaling|--many-workers)  # each runs only its part
      part=${1#--} part=${part%-only}
      [[ -z $only || $only == "$part" ]] ||
        { echo "bench.sh: give one of --exec-only, --latency, --scaling and --many-workers, not two (each runs only its part)" >&2; exit 2; }
      only=$part; [[ $part == many-workers ]] && many_workers=1; shift ;;
    --workers-max) needs_value "$@"; workers_max=$2; shift 2 ;;
    --plot) needs_value "$@"; plot_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "bench.sh: --runs must be 1 to 99" >&2; exit 2; }
[[ $tasks =~ ^[1-9][0-9]{3,8}$ ]] || { echo "bench.sh: --tasks must be 1000 to 999999999" >&2; exit 2; }
[[ $commands =~ ^[1-9][0-9]{2,6}$ ]] || { echo "bench.sh: --commands must be 100 to 9999999" >&2; exit 2; }
[[ $workers_max =~ ^[1-9][0-9]?$ && $workers_max -le 64 ]] || { echo "bench.sh: --workers-max must be 1 to 64" >&2; exit 2; }
if [[ -n $plot_dir ]]; then
  command -v gnuplot >/dev/null ||
    { echo "bench.sh: --plot needs gnuplot: run scripts/bootstrap.sh --for-bench (Debian's gnuplot-nox)" >&2; exit 2; }
  mkdir -p "$plot_dir" || { echo "bench.sh: cannot create --plot directory $plot_dir" >&2; exit 2; }
  plot_dir=$(cd "$plot_dir" && pwd)
fi
long_tasks=$((tasks * 10))
raw_min_messages=100000  # enough frames for a steady rate at batch 1024
job_limit=60 long_limit=300 exec_limit=300  # seconds any one program may run

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
       cmake --build "$build" -j"$(nproc)" --target zpipe-sink zpipe-worker zpipe-ventilator zpipe-raw-relay zpipe-keygen \
         zpipe-latency-probe
     } >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  exit 1
fi

# "peak RSS in KiB, user s, system s" of a program and what it waits for:
# GNU time where it is installed (getrusage), else VmHWM sampled every 50 ms
# and bash's `times` for the CPU.
if /usr/bin/time -q -f '%M %U %S' -o /dev/null true 2>/dev/null; then
  peak_rss=(/usr/bin/time -q -f '%M %U %S' -o)
else
  cat >"$tmp/peak-rss" <<'WRAPPER'
#!/usr/bin/env bash
# peak-rss FILE COMMAND...: runs COMMAND and writes its last VmHWM (KiB) and
# its user and system seconds to FILE.
out=$1; shift
"$@" & pid=$! peak=0
while kill -0 "$pid" 2>/dev/null; do
  while read -r key value _; do [[ $key == VmHWM: ]] && peak=$value; done <"/proc/$pid/status" 2>/dev/null
  sleep 0.05
done
status=0; wait "$pid" || status=$?
# The children's line of `times`: "XmS.SSSs XmS.SSSs", user then system.
read -r user sys < <(times | tail -n 1 | awk '{ split($0, t, /[ms ]+/); print t[1] * 60 + t[2], t[3] * 60 + t[4] }')
echo "$peak $user $sys" >"$out"
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
kib() { tail -n 1 "$run_dir/$1.rss" | awk '{ print $1 }'; }
# cpu_s NAME...: user + system seconds of the programs started as NAME...
cpu_s() { local name; for name in "$@"; do tail -n 1 "$run_dir/$name.rss"; done | awk '{ s += $2 + $3 } END { printf "%.3f", s }'; }

# finish_job DECIMALS: waits for the job's ventilator ($vent), sink ($sink)
# and workers ($workers of them, in workers_started) and sets seconds and
# rate (tasks/s, with DECIMALS decimals) from the sink's summary: both from
# its first result to its last, as the relay's clock starts once its workers
# are connected.
finish_job() {
  local i
  finish "$vent" ventilator
  finish "$sink" sink
  for i in $(seq "$workers"); do finish "${workers_started[i - 1]}" "worker$i"; done
  seconds=$(sed -n 's/.* complete: .* s; \([0-9.]*\) s from the first result to the last (.*/\1/p' "$run_dir/sink.err")
  rate=$(sed -n 's/.* from the first result to the last (\([0-9.]*M*\) tasks\/s)$/\1/p' "$run_dir/sink.err")
  [[ -n $seconds && -n $rate ]] || { log "no summary from the sink:"; cat "$run_dir/sink.err" >&2; exit 1; }
  rate=$(awk -v r="$rate" -v f="%.$1f" 'BEGIN { if (r ~ /M$/) { sub(/M/, "", r); r *= 1e6 } printf f, r }')
}

# zpipe_job TASKS BATCH WORKERS LIMIT: sets rate (tasks/s, the sink's own
# timing), vent_kib, sink_kib, worker_kib (the largest worker) and cpu_total
# (user + system seconds of every process of the job, start-up included). The
# workers start only once the ventilator listens: a worker whose first connect
# is refused retries 100 ms later.
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
  finish_job 0
  vent_kib=$(kib ventilator) sink_kib=$(kib sink) worker_kib=0
  local -a names=(ventilator sink)
  for i in $(seq "$workers"); do names+=("worker$i"); done
  cpu_total=$(cpu_s "${names[@]}")
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

# raw_relay MESSAGES BYTES WORKERS: sets rate (messages/s) and relay_cpu
# (user + system seconds of the whole relay process).
raw_relay() {
  new_run_dir
  start relay "$job_limit" "$build/tests/zpipe-raw-relay" --messages "$1" --bytes "$2" --workers "$3"
  finish "$started" relay
  rate=$(cat "$run_dir/relay.out")
  relay_cpu=$(cpu_s relay)
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

# spin_job WORKERS TASKS: a job of TASKS spin tasks of 1 ms (--input, batch 1)
# on WORKERS one-thread workers; sets rate (tasks/s, the sink's timing).
spin_job() {
  local workers=$1 count=$2 sink vent i sink_endpoint vent_endpoint seconds
  local -a workers_started=()
  new_run_dir
  awk -v n="$count" 'BEGIN { for (i = 0; i < n; i++) print 1000 }' >"$run_dir/tasks.txt"
  start sink "$job_limit" "$build/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' --output /dev/null --progress never
  sink=$started
  sink_endpoint=$(endpoint_of sink "collecting results at " "$sink") || exit 1
  start ventilator "$job_limit" "$build/ventilator/zpipe-ventilator" --bind 'tcp://127.0.0.1:*' \
    --sink "$sink_endpoint" --input "$run_dir/tasks.txt" --kind spin --min-workers "$workers"
  vent=$started
  vent_endpoint=$(endpoint_of ventilator "workers connect to " "$vent") || exit 1
  for i in $(seq "$workers"); do
    start "worker$i" "$job_limit" "$build/worker/zpipe-worker" --ventilator "$vent_endpoint" \
      --sink "$sink_endpoint" --once --name "spin-$i"
    workers_started+=("$started")
  done
  finish_job 1
}

# latency_job RATE COUNT NAME: COUNT square tasks at RATE tasks/s through a
# batch-1 job on one worker, timed by zpipe-latency-probe; sets lat (its
# line: samples=N p50_us=.. p99_us=.. p999_us=.. max_us=..) and writes the
# CDF to $tmp/NAME.cdf. The probe opens the sink's end first, then the
# ventilator's; each program opens its fifo inside `timeout`, so a missing
# peer ends in a time-out, not a hang.
latency_job() {
  local rate=$1 count=$2 name=$3 limit probe sink vent worker sink_endpoint vent_endpoint
  limit=$(( count / rate + 60 ))
  new_run_dir
  mkfifo "$run_dir/in" "$run_dir/out"
  start probe "$limit" "$build/tests/zpipe-latency-probe" --to "$run_dir/in" --from "$run_dir/out" \
    --rate "$rate" --count "$count" --samples "$tmp/$name.cdf"
  probe=$started
  # shellcheck disable=SC2016  # $0 and $@ belong to the inner sh
  start sink "$limit" sh -c 'exec "$@" >"$0"' "$run_dir/out" "$build/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' \
    --progress never
  sink=$started
  sink_endpoint=$(endpoint_of sink "collecting results at " "$sink") || exit 1
  # shellcheck disable=SC2016
  start ventilator "$limit" sh -c 'exec "$@" <"$0"' "$run_dir/in" "$build/ventilator/zpipe-ventilator" \
    --bind 'tcp://127.0.0.1:*' --sink "$sink_endpoint" --input - --kind square --batch 1 --min-workers 1
  vent=$started
  vent_endpoint=$(endpoint_of ventilator "workers connect to " "$vent") || exit 1
  start worker1 "$limit" "$build/worker/zpipe-worker" --ventilator "$vent_endpoint" --sink "$sink_endpoint" --once
  worker=$started
  finish "$probe" probe
  finish "$vent" ventilator
  finish "$sink" sink
  finish "$worker" worker1
  lat=$(cat "$run_dir/probe.out")
}

# relay_latency RATE COUNT NAME: the raw relay's two hops at the same rate,
# frames of a batch-1 task frame's size; sets lat as latency_job does.
relay_latency() {
  new_run_dir
  start relay "$(( $2 / $1 + 60 ))" "$build/tests/zpipe-raw-relay" --rate "$1" --messages "$2" --bytes 48 \
    --workers 1 --samples "$tmp/$3.cdf"
  finish "$started" relay
  lat=$(cat "$run_dir/relay.out")
}

# probe_floor RATE COUNT NAME: the probe through `cat` in place of the
# pipeline: what its pipes and wake-ups add to every zpipe figure.
probe_floor() {
  local rate=$1 count=$2 probe
  new_run_dir
  mkfifo "$run_dir/in" "$run_dir/out"
  start probe "$(( count / rate + 60 ))" "$build/tests/zpipe-latency-probe" --to "$run_dir/in" --from "$run_dir/out" \
    --rate "$rate" --count "$count" --samples "$tmp/$3.cdf"
  probe=$started
  # shellcheck disable=SC2016
  start cat "$(( count / rate + 60 ))" sh -c 'exec cat >"$1" <"$0"' "$run_dir/in" "$run_dir/out"
  finish "$probe" probe
  finish "$started" cat
  lat=$(cat "$run_dir/probe.out")
}

# field KEY LINE...: the value of KEY=value in each LINE.
field() { local key=$1; shift; printf '%s\n' "$@" | sed -n "s/.*\\b$key=\\([0-9.]*\\).*/\\1/p"; }
# of_field median|max KEY LINE...: that statistic of KEY's values.
of_field() {
  local how=$1 key=$2 values
  shift 2
  mapfile -t values < <(field "$key" "$@")
  "$how" "${values[@]}"
}
us() { awk -v u="$1" 'BEGIN { printf "%.0f", u }'; }

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }
per_second() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a > 0 ? b - a : 0.001) }'; }

# zpipe_exec COMMANDS_FILE: sets rate, commands/s from the ventilator's start
# to the sink's exit (wall clock, as parallel's is measured), for a job of
# --kind exec on 2 workers of 1 thread each (parallel -j2). The sink is
# listening before the clock starts, idle until the ventilator's job comes.
zpipe_exec() {
  local sink vent i started_at sink_endpoint vent_endpoint
  local -a workers_started=()
  new_run_dir
  start sink "$exec_limit" "$build/sink/zpipe-sink" --bind 'tcp://127.0.0.1:*' --output /dev/null --progress never
  sink=$started
  sink_endpoint=$(endpoint_of sink "collecting results at " "$sink") || exit 1
  started_at=$(now)
  start ventilator "$exec_limit" "$build/ventilator/zpipe-ventilator" --bind 'tcp://127.0.0.1:*' \
    --sink "$sink_endpoint" --input "$1" --kind exec --min-workers 2
  vent=$started
  vent_endpoint=$(endpoint_of ventilator "workers connect to " "$vent") || exit 1
  for i in 1 2; do
    start "worker$i" "$exec_limit" "$build/worker/zpipe-worker" --ventilator "$vent_endpoint" \
      --sink "$sink_endpoint" --once --name "worker-$i" --threads 1 --allow-exec --allow-exec-without-curve
    workers_started+=("$started")
  done
  finish "$sink" sink
  rate=$(per_second "$(wc -l <"$1")" "$started_at" "$(now)")
  finish "$vent" ventilator
  for i in 1 2; do finish "${workers_started[i - 1]}" "worker$i"; done
}

# gnu_parallel COMMANDS_FILE: sets rate, commands/s of `parallel -j2` from
# its start to its exit, commands run by /bin/sh as zpipe-worker runs them.
gnu_parallel() {
  local started_at
  new_run_dir
  started_at=$(now)
  start parallel "$exec_limit" env PARALLEL_SHELL=/bin/sh PARALLEL_HOME="$run_dir/home" \
    parallel --will-cite -j2 :::: "$1"
  finish "$started" parallel
  rate=$(per_second "$(wc -l <"$1")" "$started_at" "$(now)")
}

# exec_vs_parallel: sets exec_table, the figure for trivial shell commands.
exec_vs_parallel() {
  local zpipe_rates=() parallel_rates=() zpipe parallel_rate version parallel_text
  awk -v n="$commands" 'BEGIN { for (i = 0; i < n; i++) print "true" }' >"$tmp/true.txt"
  if ! command -v parallel >/dev/null; then
    log "GNU parallel is not installed (scripts/bootstrap.sh --for-bench installs it): zpipe alone"
  fi
  for run in $(seq "$runs"); do
    zpipe_exec "$tmp/true.txt"
    zpipe_rates+=("$rate")
    parallel_text="(not installed)"
    if command -v parallel >/dev/null; then
      gnu_parallel "$tmp/true.txt"
      parallel_rates+=("$rate") parallel_text="$rate/s"
    fi
    log "shell commands, run $run/$runs: zpipe ${zpipe_rates[-1]}/s, GNU parallel $parallel_text"
  done
  zpipe=$(median "${zpipe_rates[@]}")
  exec_table=$(
    echo "trivial shell commands (\`true\`, /bin/sh), 2 at a time: $commands commands per job, median of $runs run(s),"
    echo "wall clock from start to exit"
    printf '%-40s %11s %12s\n' runner commands/s vs_parallel
    if [[ ${#parallel_rates[@]} -gt 0 ]]; then
      parallel_rate=$(median "${parallel_rates[@]}")
      version=$(parallel --version 2>/dev/null | head -n 1 | awk '{ print $3 }')
      printf '%-40s %11s %12s\n' "GNU parallel $version -j2" "$parallel_rate" 1.00
      printf '%-40s %11s %12s\n' "zpipe, 2 workers --threads 1" "$zpipe" \
        "$(awk -v z="$zpipe" -v p="$parallel_rate" 'BEGIN { printf "%.2f", z / p }')"
    else
      printf '%-40s %11s %12s\n' "zpipe, 2 workers --threads 1" "$zpipe" "(no parallel)"
    fi
  )
}

row() { printf '%-7s %5s %7s %11s %11s %11s %9s %8s %8s %9s  %s\n' "$@"; }
# ns_per SECONDS COUNT: nanoseconds per item, whole.
ns_per() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", s * 1e9 / n }'; }
# cpu_row WORKERS BATCH TASKS ZPIPE_NS RELAY_NS_PER_MESSAGE: a row of the CPU table.
cpu_row() {
  printf '%-7s %5s %9s %13s %12s %13s  %s\n' "$1" "$2" "$3" "$4" "$5" "$(awk -v r="$5" -v b="$2" 'BEGIN { printf "%.1f", r / b }')" \
    "<= 100 ns/task: $(awk -v z="$4" 'BEGIN { print (z <= 100 ? "ok" : "MISSED") }')"
}
if [[ -z $only ]]; then
rows=() cpu_rows=()
# 1u: batch 1 with workers started --bundle 1, one task frame per message
# (PROTOCOL.md 6.2.10), beside the relay again: the cost of a message.
for spec in 1 1u 64 1024; do
  batch=${spec%u}
  if [[ $spec == *u ]]; then worker_extra=(--bundle 1); else worker_extra=(); fi
  for workers in 1 2; do
    bytes=$(frame_bytes "$batch" "$tasks")
    messages=$(( tasks / batch > raw_min_messages ? tasks / batch : raw_min_messages ))
    zpipe_rates=() raw_rates=() vents=() sinks=() workers_kib=() zpipe_cpus=() raw_cpus=()
    for run in $(seq "$runs"); do
      zpipe_job "$tasks" "$batch" "$workers" "$job_limit"
      zpipe_rates+=("$rate") vents+=("$vent_kib") sinks+=("$sink_kib") workers_kib+=("$worker_kib")
      zpipe_cpus+=("$(ns_per "$cpu_total" "$tasks")")
      raw_relay "$messages" "$bytes" "$workers"
      raw_rates+=("$rate") raw_cpus+=("$(ns_per "$relay_cpu" "$messages")")
      log "$workers worker(s), batch $spec, run $run/$runs: zpipe $(rate_text "${zpipe_rates[-1]}") tasks/s," \
          "raw relay $(rate_text "$rate") messages/s of $bytes B"
    done
    zpipe=$(median "${zpipe_rates[@]}") raw=$(median "${raw_rates[@]}")
    raw_tasks=$((raw * batch))
    ratio=$(awk -v z="$zpipe" -v r="$raw_tasks" 'BEGIN { printf "%.2f", z / r }')
    if [[ $spec == 1 ]]; then
      target="zpipe/raw >= 0.9: $(awk -v x="$ratio" 'BEGIN { print (x >= 0.9 ? "ok" : "MISSED") }')"
    elif [[ $spec == 1u ]]; then
      target="one frame per message: the cost of a message"
    elif [[ $batch -eq 1024 && $workers -eq 2 ]]; then
      target=">= 12M tasks/s: $(awk -v z="$zpipe" 'BEGIN { print (z >= 12e6 ? "ok" : "MISSED") }')"
    else
      target=">= 5M tasks/s: $(awk -v z="$zpipe" 'BEGIN { print (z >= 5e6 ? "ok" : "MISSED") }')"
    fi
    zpipe_cpu=$(median "${zpipe_cpus[@]}") raw_cpu=$(median "${raw_cpus[@]}")
    cpu_rows+=("$(cpu_row "$workers" "$spec" "$tasks" "$zpipe_cpu" "$raw_cpu")")
    [[ $spec == *u ]] || echo "$batch $workers $zpipe $raw_tasks" >>"$tmp/throughput.dat"
    rows+=("$(row "$workers" "$spec" "$bytes" "$(rate_text "$zpipe")" "$(rate_text "$raw")" \
      "$(rate_text "$raw_tasks")" "$ratio" "$(mb "$(max "${vents[@]}")")" "$(mb "$(max "${sinks[@]}")")" \
      "$(mb "$(max "${workers_kib[@]}")")" "$target")")
    if [[ $batch -eq 1024 && $workers -eq 2 ]]; then
      short_vent=$(max "${vents[@]}") short_sink=$(max "${sinks[@]}") short_worker=$(max "${workers_kib[@]}")
      short_rate=$zpipe
    fi
  done
done
worker_extra=()

log "cost of the protocol and of security, batch 1024, 2 workers: plain, --journal, CURVE and --keep-order runs in turn"
keys="$tmp/keys"
mkdir -p "$keys/workers" "$keys/ventilators"
for name in sink ventilator worker; do (cd "$keys" && "$build/shared/zpipe-keygen" "$name" >/dev/null); done
cp "$keys/worker.pub" "$keys/workers/"
cp "$keys/ventilator.pub" "$keys/ventilators/"
# Each kind of run takes its turn within every round, so a slow spell of
# this shared machine weighs on all of them alike, not on one.
plain_rates=() journal_rates=() curve_rates=() ordered_rates=()
for run in $(seq "$runs"); do
  zpipe_job "$tasks" 1024 2 "$job_limit"
  plain_rates+=("$rate")
  sink_extra=(--journal "$tmp/journal-$run")
  zpipe_job "$tasks" 1024 2 "$job_limit"
  journal_rates+=("$rate")
  sink_extra=(--curve-secret "$keys/sink.key" --allow-workers "$keys/workers" --allow-ventilators "$keys/ventilators")
  ventilator_extra=(--curve-secret "$keys/ventilator.key" --allow-workers "$keys/workers" --sink-key "$keys/sink.pub")
  worker_extra=(--curve-secret "$keys/worker.key" --ventilator-key "$keys/ventilator.pub" --sink-key "$keys/sink.pub")
  zpipe_job "$tasks" 1024 2 "$job_limit"
  curve_rates+=("$rate")
  sink_extra=(--keep-order) ventilator_extra=() worker_extra=()
  zpipe_job "$tasks" 1024 2 "$job_limit"
  ordered_rates+=("$rate")
  sink_extra=()
done
plain=$(median "${plain_rates[@]}")
journal=$(median "${journal_rates[@]}")
curve=$(median "${curve_rates[@]}")
ordered=$(median "${ordered_rates[@]}")
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

long_rates=() long_cpus=() long_vents=() long_sinks=() long_workers=()
for run in $(seq "$runs"); do
  log "long job: $long_tasks tasks, batch 1024, 2 workers, run $run/$runs"
  zpipe_job "$long_tasks" 1024 2 "$long_limit"
  long_rates+=("$rate") long_cpus+=("$(ns_per "$cpu_total" "$long_tasks")")
  long_vents+=("$vent_kib") long_sinks+=("$sink_kib") long_workers+=("$worker_kib")
done
rate=$(median "${long_rates[@]}")
vent_kib=$(max "${long_vents[@]}") sink_kib=$(max "${long_sinks[@]}") worker_kib=$(max "${long_workers[@]}")
cpu_rows+=("$(cpu_row 2 1024 "$long_tasks" "$(median "${long_cpus[@]}")" "$(median "${raw_cpus[@]}")")")
printf '%s %s %s %s\n' "$tasks" "$(mb "$short_vent")" "$(mb "$short_sink")" "$(mb "$short_worker")" >"$tmp/rss-jobs.dat"
printf '%s %s %s %s\n' "$long_tasks" "$(mb "$vent_kib")" "$(mb "$sink_kib")" "$(mb "$worker_kib")" >>"$tmp/rss-jobs.dat"
flat=$(( vent_kib * 1024 < 50000000 && sink_kib * 1024 < 50000000 ))

echo "zpipe vs raw ZeroMQ relay: $tasks square tasks per job, median of $runs run(s); raw relay frames as large as" \
     "the task frame, max(tasks/batch, $raw_min_messages) of them; peak RSS in MB, the largest of the runs"
row workers batch frame_B zpipe_t/s raw_msg/s raw_t/s zpipe/raw vent_MB sink_MB worker_MB target
printf '%s\n' "${rows[@]}"
echo
echo "memory over a longer job (batch 1024, 2 workers; median rate of $runs run(s) of $long_tasks tasks, the largest RSS)"
printf '%-9s %11s %8s %8s %8s  %s\n' tasks zpipe_t/s vent_MB sink_MB worker_MB target
printf '%-9s %11s %8s %8s %8s\n' "$tasks" "$(rate_text "$short_rate")" "$(mb "$short_vent")" "$(mb "$short_sink")" \
  "$(mb "$short_worker")"
printf '%-9s %11s %8s %8s %8s  %s\n' "$long_tasks" "$(rate_text "$rate")" "$(mb "$vent_kib")" "$(mb "$sink_kib")" \
  "$(mb "$worker_kib")" "vent, sink < 50 MB: $( ((flat)) && echo ok || echo MISSED); $(awk -v r="$rate" -v n="$long_tasks" \
    'BEGIN { if (n == 30000000) printf ">= 15M tasks/s: %s", (r >= 15e6 ? "ok" : "MISSED"); else printf "15M tasks/s is the target at 30M tasks" }')"
echo
echo "cost of the protocol (batch 1024, 2 workers, median of $runs run(s), the four kinds of run in turn):"
echo "acknowledgements and redelivery are always on, so every rate above includes them; the journal adds"
echo "durability (fdatasync by group commit, acks only for what is synced)"
printf '%-40s %11s %9s  %s\n' sink zpipe_t/s vs_plain target
printf '%-40s %11s %9s\n' "acknowledging (plain)" "$(rate_text "$plain")" 1.00
printf '%-40s %11s %9s  %s\n' "acknowledging after fsync (--journal)" "$(rate_text "$journal")" \
  "$(awk -v j="$journal" -v s="$plain" 'BEGIN { printf "%.2f", j / s }')" \
  ">= 0.95: $(awk -v j="$journal" -v s="$plain" 'BEGIN { print (j >= 0.95 * s ? "ok" : "MISSED") }')"
printf '%-40s %11s %9s  %s\n' "CURVE everywhere, leases checked" "$(rate_text "$curve")" \
  "$(awk -v j="$curve" -v s="$plain" 'BEGIN { printf "%.2f", j / s }')" \
  ">= 0.8: $(awk -v j="$curve" -v s="$plain" 'BEGIN { print (j >= 0.8 * s ? "ok" : "MISSED") }')"
printf '%-40s %11s %9s  %s\n' "printing in input order (--keep-order)" "$(rate_text "$ordered")" \
  "$(awk -v j="$ordered" -v s="$plain" 'BEGIN { printf "%.2f", j / s }')" "no target (the default --reorder-buffer)"
echo
echo "a worker killed (kill -9: its connection closes) or stopped (SIGSTOP: it goes silent) mid-job: seconds until"
echo "the ventilator deals its tasks again, and until the job is done"
printf '%-17s %-16s %12s %12s\n' worker --worker-timeout dealt_again_s done_s
printf '%s\n' "${death_rows[@]}"
echo
echo "CPU per task: user + system time of every process of the job (ventilator, sink, workers; start-up included)"
echo "over its tasks, median of $runs run(s); the raw relay's whole process over its messages, and that over the"
echo "batch (the relay's cost of a task carried in a frame of that many); the last row is the long job beside the"
echo "batch-1024 relay"
printf '%-7s %5s %9s %13s %12s %13s  %s\n' workers batch tasks zpipe_ns/task raw_ns/msg raw_ns/task target
printf '%s\n' "${cpu_rows[@]}"
fi  # the throughput part

# Trivial shell commands, 2 at a time, beside GNU parallel -j2.
if [[ -z $only || $only == exec ]]; then
  log "trivial shell commands: zpipe against GNU parallel"
  exec_vs_parallel
  echo
  echo "$exec_table"
fi

# CPU-bound scaling: 1 ms spin tasks, a one-thread worker per core.
if [[ -z $only || $only == scaling ]]; then
  spin_per_worker=$(( quick ? 500 : 1500 ))  # tasks per worker: 0.5 or 1.5 s of work each
  scale_counts=()
  for ((w = 1; w <= workers_max; w = (w < 4 ? w + 1 : w * 2))); do scale_counts+=("$w"); done
  [[ ${scale_counts[-1]} -eq $workers_max ]] || scale_counts+=("$workers_max")
  scale_rows=() one_worker=''
  for workers in "${scale_counts[@]}"; do
    spin_rates=()
    for run in $(seq "$runs"); do
      spin_job "$workers" $(( spin_per_worker * workers ))
      spin_rates+=("$rate")
      log "spin 1 ms, $workers worker(s), run $run/$runs: $rate tasks/s"
    done
    spin=$(median "${spin_rates[@]}")
    [[ -n $one_worker ]] || one_worker=$spin
    speedup=$(awk -v r="$spin" -v o="$one_worker" 'BEGIN { printf "%.2f", r / o }')
    echo "$workers $spin $speedup" >>"$tmp/scaling.dat"
    scale_rows+=("$(printf '%-7s %9s %9s %8s  %s' "$workers" "$(( spin_per_worker * workers ))" "$spin" "$speedup" \
      ">= $(awk -v w="$workers" 'BEGIN { printf "%.1f", 0.9 * w }'): $(awk -v s="$speedup" -v w="$workers" \
        'BEGIN { print (s >= 0.9 * w ? "ok" : "MISSED") }')")")
  done
  echo
  echo "CPU-bound scaling: jobs of 1 ms spin tasks ($spin_per_worker per worker, batch 1), one one-thread worker per"
  echo "core wanted, on a $(nproc)-core machine; tasks/s by the sink's timing, median of $runs run(s); speed-up over"
  echo "1 worker (target >= 0.9 x workers)"
  printf '%-7s %9s %9s %8s  %s\n' workers tasks tasks/s speedup target
  printf '%s\n' "${scale_rows[@]}"
fi

# Latency at a light, fixed rate: batch 1, one worker.
if [[ -z $only || $only == latency ]]; then
  lat_seconds=$(( quick ? 2 : 5 ))
  lat_rows=()
  for lat_rate in 1000 10000; do
    lat_count=$(( lat_rate * lat_seconds ))
    zp=() rl=() fl=()
    for run in $(seq "$runs"); do
      latency_job "$lat_rate" "$lat_count" "zpipe-$lat_rate-$run"
      zp+=("$lat")
      relay_latency "$lat_rate" "$lat_count" "relay-$lat_rate-$run"
      rl+=("$lat")
      probe_floor "$lat_rate" "$lat_count" "floor-$lat_rate-$run"
      fl+=("$lat")
      log "latency at $lat_rate tasks/s, run $run/$runs: zpipe ${zp[-1]}; relay ${rl[-1]}; probe floor ${fl[-1]}"
    done
    # Medians of each percentile over the runs; max is the largest of all.
    for what in zpipe relay floor; do
      case $what in zpipe) lines=("${zp[@]}") ;; relay) lines=("${rl[@]}") ;; floor) lines=("${fl[@]}") ;; esac
      p50=$(of_field median p50_us "${lines[@]}") p99=$(of_field median p99_us "${lines[@]}")
      p999=$(of_field median p999_us "${lines[@]}") pmax=$(of_field max max_us "${lines[@]}")
      case $what in
        zpipe) z50=$p50 z99=$p99 zpipe_p999=$p999 zpipe_max=$pmax ;;
        relay)
          target="p50 <= 2x relay: $(awk -v z="$z50" -v r="$p50" 'BEGIN { print (z <= 2 * r ? "ok" : "MISSED") }')"
          target+=" ($(awk -v z="$z50" -v r="$p50" 'BEGIN { printf "%.1fx", z / r }')),"
          target+=" p99 <= 3x relay: $(awk -v z="$z99" -v r="$p99" 'BEGIN { print (z <= 3 * r ? "ok" : "MISSED") }')"
          target+=" ($(awk -v z="$z99" -v r="$p99" 'BEGIN { printf "%.1fx", z / r }'))"
          lat_rows+=("$(printf '%-6s %-16s %8s %8s %9s %9s  %s' "$lat_rate" zpipe "$(us "$z50")" "$(us "$z99")" \
            "$(us "$zpipe_p999")" "$(us "$zpipe_max")" "$target")")
          lat_rows+=("$(printf '%-6s %-16s %8s %8s %9s %9s' "$lat_rate" "raw relay" "$(us "$p50")" "$(us "$p99")" \
            "$(us "$p999")" "$(us "$pmax")")") ;;
        floor)
          lat_rows+=("$(printf '%-6s %-16s %8s %8s %9s %9s' "$lat_rate" "probe via cat" "$(us "$p50")" "$(us "$p99")" \
            "$(us "$p999")" "$(us "$pmax")")") ;;
      esac
    done
  done
  echo
  echo "latency at a fixed rate (batch 1, 1 worker, ${lat_seconds} s of tasks per run; microseconds, median of $runs"
  echo "run(s), max the largest): zpipe from the probe's write of a task line to the ventilator's stdin to its read of"
  echo "the sink's result line on stdout (CLOCK_MONOTONIC, one process); the raw relay from send to receive over its"
  echo "two TCP hops; 'probe via cat' is the probe's own two pipes and wake-ups, included in zpipe's figures"
  printf '%-6s %-16s %8s %8s %9s %9s  %s\n' tasks/s path p50_us p99_us p99.9_us max_us target
  printf '%s\n' "${lat_rows[@]}"
fi

# Plots: PNGs with their data files beside them, titled with the date and machine.
if [[ -n $plot_dir ]]; then
  when="$(date -u +%Y-%m-%d), $(hostname), $(nproc) cores"
  plot() {  # plot NAME GNUPLOT_COMMANDS: draws NAME.png in the plot directory
    if gnuplot -e "set terminal pngcairo size 900,560 noenhanced; set output '$plot_dir/$1.png'; $2" \
         >"$tmp/gnuplot.log" 2>&1 || gnuplot -e "set terminal png size 900,560 noenhanced; set output '$plot_dir/$1.png'; $2" \
         >"$tmp/gnuplot.log" 2>&1; then
      log "plot: $plot_dir/$1.png"
    else
      log "plot $1 failed:"; cat "$tmp/gnuplot.log" >&2
    fi
  }
  if [[ -s $tmp/throughput.dat ]]; then
    # One row per batch: batch, then zpipe and relay tasks/s for 1 and 2 workers.
    awk '{ v[$1] = v[$1] " " $3 " " $4; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
         END { print "# batch zpipe_1w relay_1w zpipe_2w relay_2w (tasks/s)"; for (i = 1; i <= n; i++) print order[i] v[order[i]] }' \
      "$tmp/throughput.dat" >"$plot_dir/throughput.dat"
    plot throughput "set title 'tasks/s against batch size, zpipe and the raw relay ($when)'; set logscale xy;
      set xlabel 'batch (tasks per frame)'; set ylabel 'tasks/s'; set key left top; set grid;
      plot '$plot_dir/throughput.dat' using 1:2 with linespoints title 'zpipe, 1 worker',
           '' using 1:4 with linespoints title 'zpipe, 2 workers',
           '' using 1:3 with linespoints dashtype 2 title 'raw relay, 1 worker',
           '' using 1:5 with linespoints dashtype 2 title 'raw relay, 2 workers'"
  fi
  series=''
  for cdf in "$tmp"/*-1.cdf; do
    [[ -e $cdf ]] || continue
    cdf=${cdf##*/}
    series+="${series:+, }'$plot_dir/$cdf' using 1:2 with lines title '${cdf%-1.cdf}'"
  done
  if [[ -n $series ]]; then
    cp "$tmp"/*.cdf "$plot_dir/"
    plot latency "set title 'latency CDF, batch 1, 1 worker, first run ($when)'; set logscale x 10;
      set xlabel 'microseconds, task line written to result line read (relay: send to receive)';
      set ylabel 'fraction of tasks at or below'; set key right bottom; set grid; set yrange [0:1]; plot $series"
  fi
  if [[ -s $tmp/rss-jobs.dat ]]; then
    cp "$tmp/rss-jobs.dat" "$plot_dir/rss-jobs.dat"
    plot rss-jobs "set title 'peak RSS against job size, batch 1024, 2 workers ($when)'; set logscale x 10;
      set xlabel 'tasks in the job'; set ylabel 'peak RSS, MB'; set yrange [0:*]; set key left top; set grid;
      plot '$plot_dir/rss-jobs.dat' using 1:2 with linespoints title 'ventilator',
           '' using 1:3 with linespoints title 'sink', '' using 1:4 with linespoints title 'largest worker'"
  fi
  if [[ -s $tmp/scaling.dat ]]; then
    cp "$tmp/scaling.dat" "$plot_dir/scaling.dat"
    plot scaling "set title 'speed-up of 1 ms spin tasks against workers ($when)'; set xlabel 'workers';
      set ylabel 'speed-up over 1 worker'; set key left top; set grid; set xrange [0:*]; set yrange [0:*];
      plot '$plot_dir/scaling.dat' using 1:3 with linespoints title 'zpipe', x title 'ideal', 0.9*x dashtype 2 title 'target'"
  fi
  # Ventilator RSS against connected workers: zpipe-many-workers, where this
  # tree has it (tests/bench/many_workers.cpp).
  if [[ -z $only ]] && cmake --build "$build" -j"$(nproc)" --target zpipe-many-workers >"$tmp/many-build.log" 2>&1 &&
     [[ -x $build/tests/zpipe-many-workers ]]; then
    : >"$plot_dir/rss-workers.dat"
    for w in 100 1000 10000; do
      log "many workers: $w"
      if line=$(timeout -k 2 300 "$build/tests/zpipe-many-workers" --build "$build" --workers "$w" --tasks 100000 \
                  --seconds 240 2>"$tmp/many.err"); then
        echo "$w $(field peak_kib "$line") $(field base_kib "$line")" >>"$plot_dir/rss-workers.dat"
      else
        log "zpipe-many-workers --workers $w failed:"; tail -n 5 "$tmp/many.err" >&2
      fi
    done
    plot rss-workers "set title 'ventilator peak RSS against connected workers ($when)'; set logscale x 10;
      set xlabel 'workers'; set ylabel 'peak RSS, MB'; set grid; set key left top;
      plot '$plot_dir/rss-workers.dat' using 1:(\$2*1024/1e6) with linespoints title 'ventilator'"
  elif [[ -z $only ]]; then
    log "no plot of RSS against workers: this tree has no zpipe-many-workers (tests/bench/many_workers.cpp)"
  fi
fi

# The Python package (python/): its own script, on this Release build, when
# pybind11-dev is there to build zpipe._engine.
if [[ -z $only ]] && cmake --build "$build" -j"$(nproc)" --target zpipe_python_engine >"$tmp/python-build.log" 2>&1; then
  echo
  "$root/scripts/bench_python.sh" --build "$build"
else
  [[ -n $only ]] || log "zpipe._engine did not build (is pybind11-dev installed?); no Python numbers"
fi
