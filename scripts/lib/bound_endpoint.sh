# Sourced by the scripts and shell tests that start programs on loopback.
# They bind tcp://127.0.0.1:* and read back the port the kernel gave, so no
# port is ever guessed and then taken by someone else first.

# bound_endpoint LOG MARKER PID: waits until LOG, a program's stderr, holds
# MARKER followed by an endpoint, and prints that endpoint. The markers:
# "collecting results at " (zpipe-sink), "workers connect to "
# (zpipe-ventilator). Returns 1, with the log on stderr, when PID exits
# first or 10 s pass. (A log line is written with one write(), so a line
# found is a whole line.)
bound_endpoint() {
  local log=$1 marker=$2 pid=$3 line endpoint
  for _ in $(seq 200); do
    line=$(grep -F -m 1 -- "$marker" "$log" 2>/dev/null || true)
    if [[ -n $line ]]; then
      endpoint=${line#*"$marker"}
      endpoint=${endpoint%%[ ,\"]*}
      if [[ $endpoint =~ ^(tcp://[^:]+:[0-9]+|ipc://.+)$ ]]; then
        echo "$endpoint"
        return 0
      fi
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "no endpoint after '$marker' in $log:" >&2
  cat "$log" >&2 2>/dev/null || true
  return 1
}
