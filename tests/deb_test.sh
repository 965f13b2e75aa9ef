#!/usr/bin/env bash
# The Debian package end to end: `cpack -G DEB` in BUILD_DIR, `apt-get
# install ./zpipe_*.deb`, then a CURVE job across two network namespaces
# run with installed files only (/usr/bin programs, keys made by the
# installed zpipe-keygen), the man pages and systemd units checked, and the
# package removed, leaving none of its files. Needs root; exits 77 (skipped)
# where it cannot run, or when zpipe is installed already (not ours to touch).
set -euo pipefail

bin=${1:?usage: deb_test.sh BUILD_DIR}
tag=$$
hub=zpd$tag-hub host=zpd$tag-b
scratch=$(mktemp -d)
pids=()
installed_by_us=0

cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "$hub" "$host"; do ip netns del "$ns" 2>/dev/null || true; done
  if [[ $installed_by_us -eq 1 ]] && dpkg -s zpipe >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq zpipe >/dev/null 2>&1 || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
skip() { echo "SKIPPED: $1"; exit 77; }
fail() {
  echo "FAILED: $1"
  for log in "$scratch"/*.err; do [[ -e $log ]] && { echo "--- $log"; cat "$log"; }; done
  exit 1
}

[[ $(id -u) -eq 0 ]] || skip "installing a package needs root"
for tool in cpack apt-get dpkg ip; do command -v "$tool" >/dev/null || skip "no $tool here"; done
# One run at a time: the package is installed system-wide.
exec 9>/tmp/zpipe-deb-test.lock
flock -w 300 9 || fail "another deb_test.sh held /tmp/zpipe-deb-test.lock for 5 minutes"
! dpkg -s zpipe >/dev/null 2>&1 || skip "a zpipe package is installed already; this test installs and removes its own"
ip netns add "$hub" 2>/dev/null || skip "cannot create network namespaces here"
ip netns add "$host"

(cd "$scratch" && cpack -G DEB --config "$bin/CPackConfig.cmake" -B "$scratch/pkg" >"$scratch/cpack.err" 2>&1) ||
  fail "cpack -G DEB failed"
deb=$(ls "$scratch"/pkg/zpipe_*_amd64.deb 2>/dev/null | head -n 1)
[[ -n $deb ]] || fail "cpack made no zpipe_<version>_amd64.deb"
installed_by_us=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$scratch/apt-install.err" 2>&1 ||
  fail "apt-get install $deb failed"
mapfile -t files < <(dpkg -L zpipe | while read -r path; do [[ -f $path ]] && echo "$path"; done)
echo "installed $(basename "$deb"): ${#files[@]} files"

# What the package promises besides the programs.
for program in zpipe-ventilator zpipe-worker zpipe-sink zpipe-keygen zpipe-status; do
  [[ -x /usr/bin/$program ]] || fail "/usr/bin/$program is not installed"
  /usr/bin/$program --version | grep -q "^$program (zpipe) " || fail "$program --version does not name it"
  if command -v man >/dev/null; then
    man -w "$program" >/dev/null 2>&1 || fail "man $program finds no page"
  fi
done
for file in /usr/share/doc/zpipe/PROTOCOL.md /usr/lib/cmake/zpipe/zpipeConfig.cmake /usr/include/zpipe/codec.hpp; do
  [[ -f $file ]] || fail "$file is not installed"
done
# The Python package, with its engine, for Debian's python3, from anywhere.
(cd / && /usr/bin/python3 -c 'import zpipe, zpipe._engine, zpipe.worker; print(zpipe.__file__)') \
  >"$scratch/python.out" 2>&1 || fail "python3 cannot import the installed zpipe: $(cat "$scratch/python.out")"
grep -q '^/usr/lib/python3/dist-packages/zpipe/' "$scratch/python.out" ||
  fail "python3 imported zpipe from $(cat "$scratch/python.out"), not from the package"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --man=no zpipe-worker@test.service zpipe-sink@test.service zpipe-ventilator@test.service \
    >"$scratch/verify.err" 2>&1 || fail "systemd-analyze verify refuses the units: $(cat "$scratch/verify.err")"
  echo "systemd-analyze verify: the three units pass"
fi

# Two hosts: the sink and the ventilator on the hub, a worker on the other.
ip link add "hb$tag" type veth peer name "wb$tag"
ip link set "hb$tag" netns "$hub"
ip link set "wb$tag" netns "$host"
ip -n "$hub" addr add 10.78.1.1/24 dev "hb$tag"
ip -n "$host" addr add 10.78.1.2/24 dev "wb$tag"
for ns in "$hub" "$host"; do ip -n "$ns" link set lo up; done
ip -n "$hub" link set "hb$tag" up
ip -n "$host" link set "wb$tag" up

# Only installed files from here on: a PATH of /usr/bin and /bin.
export PATH=/usr/bin:/bin
cd "$scratch"
for name in sink ventilator worker; do zpipe-keygen "$name" >/dev/null || fail "zpipe-keygen $name failed"; done
mkdir sink-workers sink-ventilators ventilator-workers
cp worker.pub sink-workers/
cp ventilator.pub sink-ventilators/
cp worker.pub ventilator-workers/
ip netns exec "$hub" timeout 60 zpipe-sink --bind tcp://10.78.1.1:5558 --curve-secret sink.key \
  --allow-workers sink-workers --allow-ventilators sink-ventilators --format jsonl --output results.jsonl </dev/null >/dev/null 2>sink.err &
sink=$!; pids+=("$sink")
ip netns exec "$hub" timeout 60 zpipe-ventilator --bind tcp://10.78.1.1:5557 --sink tcp://10.78.1.1:5558 \
  --curve-secret ventilator.key --allow-workers ventilator-workers --sink-key sink.pub --count 500 --kind square \
  --batch 10 </dev/null >/dev/null 2>ventilator.err &
ventilator=$!; pids+=("$ventilator")
ip netns exec "$host" timeout 60 zpipe-worker --ventilator tcp://10.78.1.1:5557 --sink tcp://10.78.1.1:5558 \
  --curve-secret worker.key --ventilator-key ventilator.pub --sink-key sink.pub --name host-b --once \
  </dev/null >/dev/null 2>worker.err &
worker=$!; pids+=("$worker")
wait "$ventilator" || fail "the installed ventilator did not complete the job"
wait "$sink" || fail "the installed sink did not report the job complete and ok"
wait "$worker" || fail "the installed worker did not exit 0 when the job ended"
[[ $(grep -o '"task_id":[0-9]*' results.jsonl | sort -u | wc -l) -eq 500 && $(wc -l <results.jsonl) -eq 500 ]] ||
  fail "results.jsonl does not hold each of the 500 tasks once"
grep -q "complete: 500 of 500 tasks, 500 ok, 0 failed" sink.err || fail "the sink does not report 500 of 500 ok"
# Protocol v2 names a worker by its key file (worker.pub), not by --name.
grep -Eq '"worker":"(worker|host-b)"' results.jsonl || fail "the worker on the other namespace ran no task"
echo "a CURVE job of 500 tasks across two namespaces, with installed files only: each task once"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq zpipe >"$scratch/apt-purge.err" 2>&1 || fail "apt-get purge zpipe failed"
installed_by_us=0
! dpkg -s zpipe >/dev/null 2>&1 || fail "dpkg still knows zpipe after the purge"
for file in "${files[@]}"; do [[ ! -e $file ]] || fail "$file is left after the purge"; done
echo "removed cleanly: none of the ${#files[@]} files is left"
