#!/usr/bin/env bash
# Installs what is missing, then runs every test: the normal build with
# warnings as errors (the Python package's tests, python:*, among them); 50,000 seeds of the fault simulation; the whole suite
# again under AddressSanitizer and
# UndefinedBehaviorSanitizer; the unit tests under ThreadSanitizer; and each
# fuzz target for a short while.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/test.sh [--quick] [ctest arguments...]
  --quick   the normal build's tests and the simulation only (no sanitizers, no fuzzing)
Builds in build-test/, build-sanitize/, build-tsan/ and build-fuzz/. Extra
arguments go to ctest, for example -R codec to run only the codec tests.
USAGE
}
quick=false
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
[[ ${1:-} == --quick ]] && { quick=true; shift; }

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh" --for-tests
jobs=$(nproc)

run_suite() {  # BUILD_DIR, cmake options...
  local build=$1; shift
  cmake -S "$root" -B "$build" -DZPIPE_WARNINGS_AS_ERRORS=ON "$@" >/dev/null
  cmake --build "$build" -j"$jobs"
  # A test that fails runs once more, and its first failure stays in the
  # log: the process tests run real programs on a shared two-core machine,
  # and one slow moment must not hide every other result.
  (cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 300 --repeat until-pass:2 "${ctest_args[@]}")
}
ctest_args=("$@")

echo "== tests" >&2
run_suite "$root/build-test" -DCMAKE_BUILD_TYPE=RelWithDebInfo

echo "== simulation: the real protocol cores under seeded fault schedules" >&2
"$root/scripts/simulate.sh" --seeds 50000
$quick && exit 0

echo "== tests under AddressSanitizer and UndefinedBehaviorSanitizer" >&2
# Any report ends the program with status 86, which no test expects. A small
# quarantine keeps resident memory meaningful for the tests that measure it.
export ASAN_OPTIONS=exitcode=86:detect_leaks=0:quarantine_size_mb=16 UBSAN_OPTIONS=halt_on_error=1:exitcode=86:print_stacktrace=1
# -O1 and line tables only (-g1), as the sanitizers' authors advise: reports
# keep their file and line, and this build, which is most of the suite's
# time, compiles in far less than with -O2 -g.
sanitizer_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1")
run_suite "$root/build-sanitize" "${sanitizer_flags[@]}" -DZPIPE_SANITIZE=ON
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== unit tests under ThreadSanitizer" >&2
# The executor's compute threads share state with the worker's network
# thread; its unit tests drive real threads. Only the unit tests run here: the
# process tests would add minutes. libzmq is not instrumented, so what TSan
# cannot follow inside it is suppressed (tests/tsan.supp). The ZAP thread is
# not covered: only the process tests start it.
export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp:halt_on_error=1:exitcode=86:second_deadlock_stack=1"
cmake -S "$root" -B "$root/build-tsan" -DZPIPE_WARNINGS_AS_ERRORS=ON "${sanitizer_flags[@]}" -DZPIPE_TSAN=ON >/dev/null
cmake --build "$root/build-tsan" -j"$jobs" --target zpipe_unit_tests zpipe_core_unit_tests
(cd "$root/build-tsan" && ctest --output-on-failure -j"$jobs" --timeout 300 -R '^unit:' "${ctest_args[@]}")
unset TSAN_OPTIONS

echo "== fuzzing" >&2
"$root/scripts/fuzz.sh" --seconds 20
