#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each one
# for a bounded time on a copy of its committed seed corpus. Leak detection
# is off, in libFuzzer and in ASan's check at exit: LeakSanitizer needs
# ptrace, which sandboxes such as CI often deny.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/fuzz.sh [--seconds N]
Runs every fuzz target for N seconds (default 300). scripts/test.sh runs them
for a few seconds each; run this for longer before a release. A crash leaves
its input in build-fuzz/ and exits non-zero.
USAGE
}
seconds=300
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZPIPE_FUZZ=ON \
  -DZPIPE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target zpipe-fuzz-decode zpipe-fuzz-journal >/dev/null
for target in decode journal; do
  corpus=$(mktemp -d)
  cp "$root/tests/fuzz/corpus/$target"/* "$corpus/"
  log=$build/fuzz-$target.log
  echo "fuzz: $target for ${seconds} s (log in $log)" >&2
  status=0
  (cd "$build" && ASAN_OPTIONS=detect_leaks=0 "./tests/fuzz/zpipe-fuzz-$target" -max_total_time="$seconds" \
    -max_len=65536 -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1 "$corpus" >"$log" 2>&1) || status=$?
  rm -rf "$corpus"
  if [[ $status -ne 0 ]]; then
    echo "fuzz: $target failed with exit status $status; the end of its log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  grep -E "^(Done|stat::number_of_executed_units)" "$log" >&2
done
