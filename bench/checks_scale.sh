#!/usr/bin/env bash
# Agent checks at scale (issue 12): one `praetor agent -dev` carrying SERVICES services × 3
# checks, registered from a config dir: a script check running `true`, a TTL check, and a third
# check (THIRD: a second script, `sh -c "test -r /proc/loadavg"`; or, once the io/ prober has
# landed, an HTTP check against `python3 -m http.server` on STATIC_IP, or a TCP check against
# it), every INTERVAL. A feeder (python3, one keep-alive connection) passes each TTL check once
# per INTERVAL, as a service heartbeat would. Reports, after WARMUP seconds, the agent's CPU
# (utime + stime from /proc/PID/stat over MEASURE seconds; its reaped check processes
# separately, from cutime + cstime), VmRSS and VmHWM; and first the idle agent (no services)
# the same way. Not part of the test suite; results and the exact command are recorded in
# docs/benchmarks.md ("Agent checks (issue 12)").
#
#   bash bench/checks_scale.sh [--services N] [--interval S] [--third script|http|tcp]
#                              [--warmup S] [--measure S] [--idle-measure S] [--no-ttl-feed]
#                              [--out FILE] [--keep]
#
# Defaults: 1,000 services, 10-s intervals, third check a script, 30 s of warm-up after every
# script check has passed once, 60 s measured (20 s for the idle agent).
# The agent listens on AGENT_IP (default 127.0.0.65, ports 8300-8302 and 8500; DNS off), the
# static server on STATIC_IP (default 127.0.0.66:8080, with --third http or tcp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=1000
INTERVAL=10
THIRD=script
WARMUP=30
MEASURE=60
IDLE_MEASURE=20
TTL_FEED=1
OUT=""
KEEP=0
COMMAND="bash bench/checks_scale.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --services) SERVICES=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --third) THIRD=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --measure) MEASURE=$2; shift 2 ;;
    --idle-measure) IDLE_MEASURE=$2; shift 2 ;;
    --no-ttl-feed) TTL_FEED=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$THIRD" in script|http|tcp) ;; *) echo "--third: script, http or tcp" >&2; exit 2 ;; esac
AGENT_IP=${AGENT_IP:-127.0.0.65}
STATIC_IP=${STATIC_IP:-127.0.0.66}
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench-release}

source "$ROOT/scripts/common.sh"
install_deps
export CCACHE_DIR="${CCACHE_DIR:-$ROOT/.cache/ccache}"
echo "==> building praetor (RelWithDebInfo, as the release preset) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_COMPILER_LAUNCHER=ccache > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target praetor > /dev/null
PRAETOR="$BUILD_DIR/cmd/praetor/praetor"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/praetor-checks-scale.XXXXXX")
AGENT_PID=""
STATIC_PID=""
FEED_PID=""
LAT_PID=""
stop_pid() {  # TERM, up to 5 s, then KILL; only processes this script started
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2> /dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}
cleanup() {
  stop_pid "$LAT_PID"
  stop_pid "$FEED_PID"
  stop_pid "$AGENT_PID"
  stop_pid "$STATIC_PID"
  if [ "$KEEP" = 1 ]; then echo "==> kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in 8300 8301 8302 8500; do
  ! (exec 3<> "/dev/tcp/$AGENT_IP/$port") 2> /dev/null ||
    { echo "$AGENT_IP:$port is in use (set AGENT_IP)" >&2; exit 1; }
done
URL="http://$AGENT_IP:8500"

kb() { awk '/^'"$2"':/ {print $2}' "/proc/$1/status"; }
cpu_s() {  # utime + stime of a process, in seconds
  awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"
}
child_cpu_s() {  # cutime + cstime: the check processes it has reaped
  awk -v t="$(getconf CLK_TCK)" '{print ($16 + $17) / t}' "/proc/$1/stat"
}
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
pct() { awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN{printf "%.1f", (b - a) * 100 / s}'; }
count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

start_agent() {  # config dir, log name
  "$PRAETOR" agent -dev -node=checks-bench -bind="$AGENT_IP" -client="$AGENT_IP" -dns-port=-1 \
    -log-level=info -config-dir="$1" > "$WORK/$2.log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 200); do
    curl -sf "$URL/v1/catalog/node/checks-bench" 2> /dev/null | grep -q '"Node"' && return 0
    kill -0 "$AGENT_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "the agent did not start:" >&2
  tail -20 "$WORK/$2.log" >&2
  KEEP=1
  exit 1
}

# ---- Idle: no services ----------------------------------------------------------------------
mkdir -p "$WORK/idle" "$WORK/loaded"
echo '{"enable_local_script_checks": true}' > "$WORK/idle/agent.json"
cp "$WORK/idle/agent.json" "$WORK/loaded/agent.json"
echo "==> idle agent (no services) on $AGENT_IP"
start_agent "$WORK/idle" idle
sleep 5  # past start-up: the first full sync, the leader's reconcile
LOAD_IDLE=$(cut -d' ' -f1-3 /proc/loadavg)
C0=$(cpu_s "$AGENT_PID")
sleep "$IDLE_MEASURE"
C1=$(cpu_s "$AGENT_PID")
IDLE_CPU=$(pct "$C0" "$C1" "$IDLE_MEASURE")
IDLE_RSS=$(kb "$AGENT_PID" VmRSS)
IDLE_HWM=$(kb "$AGENT_PID" VmHWM)
echo "    CPU $IDLE_CPU %, VmRSS $(mb "$IDLE_RSS") MB, VmHWM $(mb "$IDLE_HWM") MB"
stop_pid "$AGENT_PID"
AGENT_PID=""

# ---- Loaded: SERVICES × 3 checks --------------------------------------------------------------
if [ "$THIRD" != script ]; then
  mkdir -p "$WORK/static"
  echo ok > "$WORK/static/health"
  python3 -m http.server 8080 --bind "$STATIC_IP" --directory "$WORK/static" \
    > "$WORK/static.log" 2>&1 &
  STATIC_PID=$!
  for _ in $(seq 50); do curl -sf "http://$STATIC_IP:8080/health" > /dev/null && break; sleep 0.1; done
fi
python3 - "$SERVICES" "$INTERVAL" "$THIRD" "$STATIC_IP" > "$WORK/loaded/services.json" <<'EOF'
import json, sys
n, interval, third, static_ip = int(sys.argv[1]), sys.argv[2] + "s", sys.argv[3], sys.argv[4]
services = []
for i in range(n):
    sid = f"svc-{i:04d}"
    third_check = {
        "script": {"args": ["/bin/sh", "-c", "test -r /proc/loadavg"], "interval": interval},
        "http": {"http": f"http://{static_ip}:8080/health", "interval": interval, "timeout": "2s"},
        "tcp": {"tcp": f"{static_ip}:8080", "interval": interval, "timeout": "2s"},
    }[third]
    third_check.update(id=f"{sid}-third", name=f"{sid} {third}")
    services.append({
        "id": sid, "name": f"bench-{i % 50}", "port": 10000 + i, "tags": ["bench"],
        "checks": [
            {"id": f"{sid}-true", "name": f"{sid} true", "args": ["/bin/true"], "interval": interval},
            # A heartbeat: three intervals of TTL, passed once per interval by the feeder.
            {"id": f"{sid}-ttl", "name": f"{sid} ttl", "ttl": f"{3 * int(sys.argv[2])}s"},
            third_check,
        ],
    })
json.dump({"services": services}, sys.stdout)
EOF
CHECKS=$((SERVICES * 3))
echo "==> agent with $SERVICES services × 3 checks ($THIRD third) every ${INTERVAL}s"
T_START=$(date +%s.%N)
start_agent "$WORK/loaded" loaded
if [ "$TTL_FEED" = 1 ]; then
  python3 - "$AGENT_IP" "$SERVICES" "$INTERVAL" > "$WORK/feed.log" 2>&1 <<'EOF' &
import http.client, sys, time
host, n, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
step = interval / n
nxt = time.monotonic()
i = 0
conn = None
# A stalled agent must not end the feed: errors are counted, the connection made again.
while True:
    try:
        if conn is None:
            conn = http.client.HTTPConnection(host, 8500, timeout=60)
        conn.request("PUT", f"/v1/agent/check/pass/svc-{i % n:04d}-ttl")
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            print("pass failed:", r.status, flush=True)
    except OSError as e:
        print("pass error:", e, flush=True)
        conn = None
    i += 1
    nxt += step
    time.sleep(max(0.0, nxt - time.monotonic()))
EOF
  FEED_PID=$!
fi
# Every check has run (or been passed) once when the catalog lists them all passing.
# (HTTP and TCP checks are not counted: they pass only once the io/ prober runs them.)
EXPECT_PASSING=$SERVICES
[ "$TTL_FEED" = 1 ] && EXPECT_PASSING=$((EXPECT_PASSING + SERVICES))
[ "$THIRD" = script ] && EXPECT_PASSING=$((EXPECT_PASSING + SERVICES))
# A wall-clock bound: an agent that cannot keep up answers slowly and may never get there.
SYNC_DEADLINE=$(( $(date +%s) + 6 * INTERVAL + 60 ))
N_PASSING=0
while [ "$(date +%s)" -lt "$SYNC_DEADLINE" ]; do
  N_PASSING=$(curl -sf -m 30 "$URL/v1/health/state/passing" 2> /dev/null | count 2> /dev/null || echo 0)
  [ "$N_PASSING" -ge "$EXPECT_PASSING" ] && break
  sleep 0.5
done
T_SYNCED=$(date +%s.%N)
SYNC_S=$(awk -v a="$T_START" -v b="$T_SYNCED" 'BEGIN{printf "%.1f", b - a}')
N_AGENT_CHECKS=$(curl -sf -m 60 "$URL/v1/agent/checks" | count || echo "?")
echo "    $N_PASSING passing checks in the catalog (of $N_AGENT_CHECKS, $EXPECT_PASSING expected) ${SYNC_S} s after the start"
RSS_SYNCED=$(kb "$AGENT_PID" VmRSS)
echo "==> warm-up ${WARMUP}s"
sleep "$WARMUP"
LOAD_LOADED=$(cut -d' ' -f1-3 /proc/loadavg)
C0=$(cpu_s "$AGENT_PID")
K0=$(child_cpu_s "$AGENT_PID")
echo "==> measuring ${MEASURE}s (load $LOAD_LOADED)"
# Meanwhile, how long the agent takes to answer a trivial request (GET /v1/status/leader, one
# every 0.5 s): a loop busy starting checks answers late.
python3 - "$AGENT_IP" "$MEASURE" > "$WORK/latency.txt" <<'PY' &
import http.client, statistics, sys, time
host, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
lat = []
while time.monotonic() < end:
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection(host, 8500, timeout=60)
        c.request("GET", "/v1/status/leader")
        c.getresponse().read()
        c.close()
    except OSError:
        pass
    lat.append(time.monotonic() - t0)
    time.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))
lat.sort()
print(f"{len(lat)} {statistics.median(lat) * 1000:.0f} {lat[int(len(lat) * 0.9)] * 1000:.0f} {lat[-1] * 1000:.0f}")
PY
LAT_PID=$!
sleep "$MEASURE"
C1=$(cpu_s "$AGENT_PID")
K1=$(child_cpu_s "$AGENT_PID")
LOADED_CPU=$(pct "$C0" "$C1" "$MEASURE")
CHILD_CPU=$(pct "$K0" "$K1" "$MEASURE")
LOADED_RSS=$(kb "$AGENT_PID" VmRSS)
LOADED_HWM=$(kb "$AGENT_PID" VmHWM)
wait "$LAT_PID" || true
read -r LAT_N LAT_P50 LAT_P90 LAT_MAX < "$WORK/latency.txt" || true
N_PASSING_END=$(curl -sf -m 60 "$URL/v1/health/state/passing" | count || echo "?")
N_CRITICAL_END=$(curl -sf -m 60 "$URL/v1/health/state/critical" | count || echo "?")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
echo "    agent CPU $LOADED_CPU %, its check processes $CHILD_CPU %, VmRSS $(mb "$LOADED_RSS") MB," \
  "VmHWM $(mb "$LOADED_HWM") MB; passing $N_PASSING_END, critical $N_CRITICAL_END"

report() {
  echo "Agent checks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2> /dev/null || echo ' (+ uncommitted changes)')"
  echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))"
  echo "command: $COMMAND"
  echo
  echo "| agent | CPU (agent) | CPU (check processes) | VmRSS | VmHWM | load 1/5/15 before |"
  echo "|---|---|---|---|---|---|"
  echo "| idle, no services (${IDLE_MEASURE} s) | $IDLE_CPU % | - | $(mb "$IDLE_RSS") MB | $(mb "$IDLE_HWM") MB | $LOAD_IDLE |"
  echo "| $SERVICES services × 3 checks, ${INTERVAL} s (${MEASURE} s after ${WARMUP} s) | $LOADED_CPU % | $CHILD_CPU % |" \
    "$(mb "$LOADED_RSS") MB | $(mb "$LOADED_HWM") MB | $LOAD_LOADED |"
  echo
  echo "\`GET /v1/status/leader\` while loaded ($LAT_N requests, one per 0.5 s): median $LAT_P50 ms, p90 $LAT_P90 ms, max $LAT_MAX ms."
  echo
  echo "Checks: $N_AGENT_CHECKS on the agent (script \`true\`, TTL $((3 * INTERVAL)) s fed every ${INTERVAL} s$([ "$TTL_FEED" = 1 ] || echo ' (feeder off)'), $THIRD);" \
    "$N_PASSING of the $EXPECT_PASSING expected passing in the catalog ${SYNC_S} s after the start (VmRSS $(mb "$RSS_SYNCED") MB then);" \
    "at the end $N_PASSING_END passing, $N_CRITICAL_END critical (the node's serfHealth included); load average at the end $LOAD_END."
}
echo
report
if [ -n "$OUT" ]; then
  report > "$OUT"
  echo "==> written to $OUT"
fi
