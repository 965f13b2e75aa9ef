#!/usr/bin/env bash
# Installs the Debian packages zpipe needs, and only those that are missing:
# run it as often as you like.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/bootstrap.sh [--for-tests | --for-bench]
Installs what zpipe needs to build from Debian's archive (g++, cmake,
libzmq3-dev, libsodium-dev, cppzmq-dev, libmsgpack-cxx-dev, libcxxopts-dev, libspdlog-dev, libjemalloc-dev,
help2man for the man pages), and for its Python package (python/)
python3-zmq and python3-msgpack (the worker speaks the protocol with them),
pybind11-dev and python3-dev (the engine that zpipe.Job binds), python3-venv
(pip install ./python into a venv). With --for-tests, also what the tests
use: catch2, clang (fuzzing), iproute2 (the multi-host test), dpkg-dev
(cpack's dpkg-shlibdeps, the .deb test), parallel (GNU parallel, which
tests/parallel_compat/ and bench.sh compare zpipe with) and, if it can,
tshark (the capture test). With --for-bench, also what scripts/bench.sh
uses: gnuplot-nox (--plot draws with it) and parallel (the figure for shell
commands against GNU parallel). Does nothing when everything is installed.
Needs root or sudo when something is missing.
USAGE
}
packages=(g++ cmake make pkg-config libzmq3-dev libsodium-dev cppzmq-dev libmsgpack-cxx-dev libcxxopts-dev libspdlog-dev libjemalloc-dev help2man catch2
          python3-zmq python3-msgpack pybind11-dev python3-dev python3-venv)
optional=()  # without these, the tests that need them are skipped
case ${1:-} in
  -h|--help) usage; exit 0 ;;
  --for-tests) packages+=(clang libclang-rt-14-dev iproute2 dpkg-dev parallel); optional+=(tshark) ;;
  --for-bench) packages+=(gnuplot-nox parallel) ;;
  "") ;;
  *) echo "bootstrap.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=() missing_optional=()
for package in "${packages[@]}"; do installed "$package" || missing+=("$package"); done
for package in "${optional[@]}"; do installed "$package" || missing_optional+=("$package"); done
[[ ${#missing[@]} -eq 0 && ${#missing_optional[@]} -eq 0 ]] && exit 0

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    [[ ${#missing[@]} -eq 0 ]] && { echo "bootstrap: not installing ${missing_optional[*]} (needs root)" >&2; exit 0; }
    echo "bootstrap: need root or sudo to install ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
fi
echo "bootstrap: installing ${missing[*]} ${missing_optional[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
if [[ ${#missing[@]} -gt 0 ]]; then
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if [[ ${#missing_optional[@]} -gt 0 ]]; then
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" >&2 ||
    echo "bootstrap: could not install ${missing_optional[*]}; the tests that need it will be skipped" >&2
fi
