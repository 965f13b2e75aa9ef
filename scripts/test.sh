#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test: unit tests, tests through the real binaries, the package test.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/test.sh [ctest arguments...]
Builds in build-test/ and runs ctest there; extra arguments go to ctest
(for example -R codec to run only the codec tests).
USAGE
}
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
build=$root/build-test
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZPIPE_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 300 "$@"
