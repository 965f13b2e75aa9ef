# The --many-workers part of scripts/bench.sh: one ventilator with 100, 1,000
# and 10,000 simulated workers (tests/bench/many_workers.cpp) running a job of
# square tasks at batch 1. Prints, for each, the ventilator's peak RSS beyond
# its own before any worker connected, per worker (target <= 8 KB), the time
# to deal the job and per frame, and the spread of tasks per worker.
# Sourced by bench.sh, which provides log, $build and $tmp. When $data_dir
# names a folder, the figures also go to $data_dir/many_workers.dat, one line
# per W: W rss_per_worker_bytes deal_seconds.

# many_workers_part TASKS: the table on stdout; returns 1 when a run failed (its row says so).
many_workers_part() {
  local tasks=$1 w line rows=() data=() per_kb target failed=0
  if ! cmake --build "$build" -j"$(nproc)" --target zpipe-many-workers >"$tmp/many-build.log" 2>&1; then
    cat "$tmp/many-build.log" >&2
    return 1
  fi
  for w in 100 1000 10000; do
    log "many workers: $w simulated workers, $tasks tasks at batch 1"
    if ! line=$(timeout -k 5 600 "$build/tests/zpipe-many-workers" --build "$build" --workers "$w" \
                  --tasks "$tasks" --seconds 580 2>"$tmp/many-$w.err"); then
      log "zpipe-many-workers with $w workers failed:"
      tail -n 20 "$tmp/many-$w.err" >&2
      rows+=("$(printf '%-8s %s' "$w" "did not complete (see the log above)")")
      failed=1
      continue
    fi
    # key=value pairs into mw_KEY variables
    local pair mw_workers='' mw_processes='' mw_base_kib='' mw_per_worker_bytes='' mw_deal_s='' mw_us_per_frame=''
    local mw_tasks_min='' mw_tasks_median='' mw_tasks_max='' mw_peak_kib='' mw_frames=''
    for pair in $line; do
      [[ $pair =~ ^([a-z_]+)=([0-9.-]+)$ ]] && printf -v "mw_${BASH_REMATCH[1]}" '%s' "${BASH_REMATCH[2]}"
    done
    per_kb=$(awk -v b="$mw_per_worker_bytes" 'BEGIN { printf "%.1f", b / 1024 }')
    target="<= 8 KB/worker: $(awk -v b="$mw_per_worker_bytes" 'BEGIN { print (b <= 8192 ? "ok" : "MISSED") }')"
    rows+=("$(printf '%-8s %9s %8s %10s %12s %8s %9s  %-20s %s' "$w" "$mw_processes" \
      "$(awk -v k="$mw_base_kib" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }')" \
      "$(awk -v k="$mw_peak_kib" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }')" "$per_kb" "$mw_deal_s" \
      "$mw_us_per_frame" "$mw_tasks_min/$mw_tasks_median/$mw_tasks_max" "$target")")
    data+=("$w $mw_per_worker_bytes $mw_deal_s")
  done
  echo
  echo "one ventilator, many workers: $tasks square tasks at batch 1 (a frame each), simulated workers with a window"
  echo "of 2; peak RSS of the ventilator, and beyond its own before any worker connected, per worker"
  printf '%-8s %9s %8s %10s %12s %8s %9s  %-20s %s\n' workers processes base_MB peak_MB KB/worker deal_s us/frame \
    tasks_min/med/max target
  printf '%s\n' "${rows[@]}"
  if [[ -n ${data_dir:-} && -d ${data_dir:-} ]]; then
    { echo "# workers rss_per_worker_bytes deal_seconds ($tasks tasks, batch 1)"; printf '%s\n' "${data[@]}"; } \
      >"$data_dir/many_workers.dat"
  fi
  return "$failed"
}
