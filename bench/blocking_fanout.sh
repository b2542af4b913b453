#!/usr/bin/env bash
# Blocking-query fan-out (issue 11): one `praetor agent -dev`, N long polls
# (GET /v1/kv/watched?index=I&wait=5m) parked on it at once, then one PUT of that key; every
# watcher's wake-up latency (its whole answer received, minus the PUT's answer received) and the
# agent's memory (VmRSS and VmHWM from /proc/<pid>/status) with the N parked. Several rounds: after
# each wake-up every watcher parks again on its keep-alive connection, at the index it was given.
# Not part of the test suite; results and the exact command are recorded in docs/benchmarks.md
# ("Blocking-query fan-out").
#
#   bash bench/blocking_fanout.sh [--watchers N] [--rounds R] [--settle-ms MS] [--put-path PATH]
#                                 [--interference SECONDS] [--out FILE] [--keep]
#
# Defaults: 10,000 watchers, 3 rounds, 3 s of settling after the watchers' requests are sent
# (so that every request has been read and parked) before the RSS is read and the PUT sent.
# The watchers connect from WATCHER_IPS (default 127.0.0.77-79, spread round-robin) to the agent
# on AGENT_IP (default 127.0.0.76, ports 8300-8302 and 8500; DNS off). The agent gets a config
# file raising limits.http_max_conns_per_client (default 200 per source IP) to 20000; nothing else
# is changed. ulimit -n is raised to 65536 (or to the hard limit) for the agent and the client.
# The client is bench/fanout_client.cpp (epoll, one thread), built with the agent.
# --put-path /v1/kv/other: the PUT writes another key (do the watchers of /v1/kv/watched wake?).
# --interference S: what parked watchers cost other requests. wrk runs S seconds of
# GET /v1/kv/other (default consistency) and of catalog writes (bench/register_wrk.lua: a check
# whose output changes, a Raft entry outside the KV table, so it wakes no KV watcher), 8
# connections each, once before the watchers connect and once while they are all parked (after
# the rounds), and prints both. The agent admits 4,096 connections in all (a constant in
# core/base/limits.hpp), so leave room for wrk's 8: --watchers 4000 at most with --interference.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WATCHERS=10000
ROUNDS=3
SETTLE_MS=3000
PUT_PATH=/v1/kv/watched
INTERFERE=0
OUT=""
KEEP=0
COMMAND="bash bench/blocking_fanout.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --watchers) WATCHERS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --settle-ms) SETTLE_MS=$2; shift 2 ;;
    --put-path) PUT_PATH=$2; shift 2 ;;
    --interference) INTERFERE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
AGENT_IP=${AGENT_IP:-127.0.0.76}
WATCHER_IPS=${WATCHER_IPS:-127.0.0.77 127.0.0.78 127.0.0.79}
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench-release}

source "$ROOT/scripts/common.sh"
install_deps
export CCACHE_DIR="${CCACHE_DIR:-$ROOT/.cache/ccache}"
echo "==> building praetor and fanout_client (RelWithDebInfo, as the release preset) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_COMPILER_LAUNCHER=ccache > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target praetor fanout_client > /dev/null
PRAETOR="$BUILD_DIR/cmd/praetor/praetor"
CLIENT="$BUILD_DIR/bench/fanout_client"

ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
echo "==> ulimit -n $(ulimit -n)"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/praetor-fanout.XXXXXX")
AGENT_PID=""
cleanup() {
  if [ -n "$AGENT_PID" ]; then
    kill -TERM "$AGENT_PID" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$AGENT_PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$AGENT_PID" 2> /dev/null || true
    wait "$AGENT_PID" 2> /dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then echo "==> kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in 8300 8301 8302 8500; do
  ! (exec 3<> "/dev/tcp/$AGENT_IP/$port") 2> /dev/null ||
    { echo "$AGENT_IP:$port is in use (set AGENT_IP)" >&2; exit 1; }
done

cat > "$WORK/limits.json" << 'EOF'
{"limits": {"http_max_conns_per_client": 20000}}
EOF
"$PRAETOR" agent -dev -node=fanout -bind="$AGENT_IP" -client="$AGENT_IP" -dns-port=-1 \
  -config-file="$WORK/limits.json" > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 100); do
  [ "$(curl -sf --max-time 1 "http://$AGENT_IP:8500/v1/status/leader" 2> /dev/null)" != '""' ] &&
    curl -sf --max-time 1 "http://$AGENT_IP:8500/v1/status/leader" > /dev/null 2>&1 && break
  sleep 0.1
done
# /v1/kv/other is written here, before any watcher: a KV write wakes every KV watcher (they wait on
# the KV table's index), so the interference phase only reads it.
curl -sf -X PUT -d other "http://$AGENT_IP:8500/v1/kv/other" > /dev/null &&
  curl -sf -X PUT -d start "http://$AGENT_IP:8500/v1/kv/watched" > /dev/null ||
  { echo "the agent did not start; log in $WORK/agent.log" >&2; KEEP=1; exit 1; }
echo "==> agent pid $AGENT_PID on $AGENT_IP:8500, $WATCHERS watchers from $WATCHER_IPS, $ROUNDS rounds"

field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<< " $2"; }
interference() {  # label: prints one line per load kind
  local label=$1 kind out line
  for kind in get register; do
    if [ "$kind" = get ]; then
      out=$(wrk -t1 -c8 -d"${INTERFERE}s" -s "$ROOT/bench/get_wrk.lua" "http://$AGENT_IP:8500/v1/kv/other")
    else
      out=$(wrk -t1 -c8 -d"${INTERFERE}s" -s "$ROOT/bench/register_wrk.lua" "http://$AGENT_IP:8500")
    fi
    line=$(grep '^RESULT' <<< "$out") || { echo "$out" >&2; exit 1; }
    echo "INTERFERENCE $label $kind $line load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
  done
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
INTERFERENCE=""
if [ "$INTERFERE" -gt 0 ]; then
  command -v wrk > /dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
  INTERFERENCE=$(interference "0-parked" | tee /dev/stderr)
  "$CLIENT" --host "$AGENT_IP" --port 8500 --sources "$WATCHER_IPS" --put-path "$PUT_PATH" \
    --watchers "$WATCHERS" --rounds "$ROUNDS" --settle-ms "$SETTLE_MS" --agent-pid "$AGENT_PID" \
    --hold-ms $((INTERFERE * 2000 + 10000)) > "$WORK/client.out" &
  CLIENT_PID=$!
  for _ in $(seq 600); do grep -q '^HOLDING' "$WORK/client.out" && break; sleep 0.2; done
  HOLDING=$(grep '^HOLDING' "$WORK/client.out")
  INTERFERENCE+=$'\n'$(interference "$(field parked "$HOLDING")-parked" | tee /dev/stderr)
  wait "$CLIENT_PID"
  OUTPUT=$(cat "$WORK/client.out")
  echo "$OUTPUT" >&2
else
  OUTPUT=$("$CLIENT" --host "$AGENT_IP" --port 8500 --sources "$WATCHER_IPS" --put-path "$PUT_PATH" \
    --watchers "$WATCHERS" --rounds "$ROUNDS" --settle-ms "$SETTLE_MS" --agent-pid "$AGENT_PID" |
    tee /dev/stderr)
fi
LIMIT_LINES=$(grep -m2 'refus' "$WORK/agent.log" || true)

ms() { awk -v u="$1" 'BEGIN{printf "%.1f", u / 1000}'; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
report() {
  local start line
  start=$(grep '^START' <<< "$OUTPUT")
  echo "Blocking-query fan-out, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2> /dev/null || echo ' (+ uncommitted changes)')"
  echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average before: $LOAD_BEFORE"
  echo "command: $COMMAND"
  echo "agent RSS before the watchers: $(mb "$(field rss_kb_idle "$start")") MB"
  [ -z "$LIMIT_LINES" ] || echo "the agent refused connections; its log: ${LIMIT_LINES//$'\n'/ | }"
  echo
  echo "| round | watchers parked | closed by the agent before the PUT | woken | closed / missing / wrong | PUT round trip (ms) | wake-up after the PUT's answer p50 / p90 / p99 / max (ms) | after the PUT was sent p99 / max (ms) | agent VmRSS / VmHWM (MB) | load 1/5/15 |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  while read -r line; do
    [ -n "$line" ] || continue
    local r
    r=$(sed -n 's/^ROUND \([0-9]*\).*/\1/p' <<< "$line")
    local rest=${line#*wake_after_put_answer_us: }
    local sent=${line#*wake_after_put_sent_us: }
    rest=${rest%%wake_after_put_sent_us*}
    sent=${sent%%rss_kb*}
    echo "| $r | $(field parked "$line") | $(field closed_before_put "$line") | $(field woken "$line") |" \
      "$(field closed "$line") / $(field missing "$line") / $(field wrong "$line") |" \
      "$(ms "$(field put_us "$line")") |" \
      "$(ms "$(field p50 " $rest")") / $(ms "$(field p90 " $rest")") / $(ms "$(field p99 " $rest")") / $(ms "$(field max " $rest")") |" \
      "$(ms "$(field p99 " $sent")") / $(ms "$(field max " $sent")") |" \
      "$(mb "$(field rss_kb "$line")") / $(mb "$(field hwm_kb "$line")") |" \
      "$(sed -n 's/.*load="\([0-9.]* [0-9.]* [0-9.]*\).*/\1/p' <<< "$line") |"
  done <<< "$(grep '^ROUND' <<< "$OUTPUT")"
  echo
  grep '^SUMMARY' <<< "$OUTPUT"
  if [ -n "$INTERFERENCE" ]; then
    echo
    echo "Other requests while the watchers are parked (wrk -t1 -c8, ${INTERFERE} s each; $(grep '^HELD' <<< "$OUTPUT")):"
    echo
    echo "| watchers parked | load | req/s | p50 / p99 (ms) | socket errors / non-2xx | load 1/5/15 |"
    echo "|---|---|---|---|---|---|"
    local label kind rest req dur
    while read -r label kind rest; do
      [ -n "$label" ] || continue
      req=$(field requests "$rest")
      dur=$(field duration_us "$rest")
      echo "| ${label%-parked} | $([ "$kind" = get ] && echo 'GET /v1/kv/other' || echo 'catalog register (check output)') |" \
        "$(awk -v n="$req" -v d="$dur" 'BEGIN{printf "%.0f", n * 1e6 / d}') |" \
        "$(awk -v u="$(field p50_us "$rest")" 'BEGIN{printf "%.2f", u / 1000}') / $(awk -v u="$(field p99_us "$rest")" 'BEGIN{printf "%.2f", u / 1000}') |" \
        "$(field errors "$rest") / $(field non2xx "$rest") |" \
        "$(sed -n 's/.*load="\([^"]*\)".*/\1/p' <<< "$rest") |"
    done <<< "$(sed 's/^INTERFERENCE //' <<< "$INTERFERENCE")"
  fi
}
echo
report
if [ -n "$OUT" ]; then
  report > "$OUT"
  echo "==> written to $OUT"
fi
