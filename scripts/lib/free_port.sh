# Sourced by the scripts and shell tests that start programs on loopback.

# free_port: prints a loopback TCP port nobody listens on (a refused
# connection says so), below the usual ephemeral range so that outgoing
# connections do not take it meanwhile. Returns 1 when 50 tries found none.
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}
