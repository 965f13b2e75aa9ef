#!/usr/bin/env bash
# Installs the Debian packages zpipe needs to build and test, and only those
# that are missing: run it as often as you like.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/bootstrap.sh
Installs what zpipe needs from Debian's archive (g++, cmake, libzmq3-dev,
cppzmq-dev, libmsgpack-cxx-dev, libcxxopts-dev, catch2; clang for fuzzing;
iproute2 for the multi-host test). Does nothing when
everything is installed already. Needs root or sudo when something is missing.
USAGE
}
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }

packages=(g++ cmake make pkg-config libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libcxxopts-dev catch2
          clang libclang-rt-14-dev iproute2)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "bootstrap: installing ${missing[*]}" >&2
as_root=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
