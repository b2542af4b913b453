#!/usr/bin/env bash
# README command (1): install what is missing, build, start a dev agent in the background
# (HTTP on 127.0.0.1:8500), wait until it answers, and say how to stop it.
#   scripts/dev.sh              build and start in the background
#   scripts/dev.sh --foreground build and run in this terminal (Ctrl-C stops it)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
root=$(praetor_root)
install_deps
build_preset release praetor
bin="$root/build/release/cmd/praetor/praetor"
if [ "${1:-}" = "--foreground" ]; then
  exec "$bin" agent -dev
fi
log="$root/build/dev-agent.log"
pidfile="$root/build/dev-agent.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "==> a dev agent is already running (pid $(cat "$pidfile")); stopping it first"
  kill "$(cat "$pidfile")" || true
  for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
fi
nohup "$bin" agent -dev -pid-file="$pidfile" > "$log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do
  if curl -sf http://127.0.0.1:8500/v1/status/leader > /dev/null 2>&1; then
    echo "==> praetor dev agent running (pid $agent_pid), HTTP API on http://127.0.0.1:8500"
    echo "    log: $log"
    echo "    try: curl -X PUT -d hi localhost:8500/v1/kv/a && curl localhost:8500/v1/kv/a?raw"
    echo "    stop: kill $agent_pid   (or: $bin leave)"
    exit 0
  fi
  if ! kill -0 "$agent_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
echo "==> the dev agent did not come up; its log follows" >&2
cat "$log" >&2
exit 1
