#!/usr/bin/env bash
# Catalog scale (issue 11): one `praetor agent -dev` loaded with NODES nodes × 5 services through
# PUT /v1/catalog/register (bench/catalog_register.py: one registration = node + service + its
# passing check per request, CONCURRENCY keep-alive connections), one service name ("hot") with
# HOT instances; then GET /v1/health/service/hot?passing with wrk at several concurrencies, and
# GET /v1/catalog/service/hot for comparison. Reports the registration throughput, the agent's
# CPU per registration, its RSS after loading, and req/s, p50, p99 and answer size per read.
# Not part of the test suite; results and the exact command are recorded in docs/benchmarks.md
# ("Catalog scale").
#
#   bash bench/catalog_scale.sh [--nodes N] [--hot H] [--concurrency C] [--duration S]
#                               [--clients "1 8 32 64"] [--out FILE] [--keep]
#
# Defaults: 10,000 nodes, 1,000 instances of "hot", 32 registering connections, 10-s wrk phases
# after 2 s of warm-up at 1, 8, 32 and 64 connections (wrk -t1 for 1, -t2 otherwise).
# The agent listens on AGENT_IP (default 127.0.0.77, ports 8300-8302 and 8500; DNS off).
# Needs wrk (installed with apt-get when missing) and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=10000
HOT=1000
CONCURRENCY=32
DURATION=10
WARMUP=2
CLIENTS="1 8 32 64"
OUT=""
KEEP=0
COMMAND="bash bench/catalog_scale.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --hot) HOT=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
AGENT_IP=${AGENT_IP:-127.0.0.77}
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench-release}

source "$ROOT/scripts/common.sh"
install_deps
if ! command -v wrk > /dev/null; then
  echo "==> installing: wrk"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
fi
export CCACHE_DIR="${CCACHE_DIR:-$ROOT/.cache/ccache}"
echo "==> building praetor (RelWithDebInfo, as the release preset) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_COMPILER_LAUNCHER=ccache > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target praetor > /dev/null
PRAETOR="$BUILD_DIR/cmd/praetor/praetor"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/praetor-catalog-scale.XXXXXX")
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
"$PRAETOR" agent -dev -node=catalog-bench -bind="$AGENT_IP" -client="$AGENT_IP" -dns-port=-1 \
  > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
URL="http://$AGENT_IP:8500"
for _ in $(seq 100); do
  curl -sf -X PUT -d x "$URL/v1/kv/ready" > /dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$URL/v1/kv/ready" > /dev/null || { echo "the agent did not start" >&2; KEEP=1; exit 1; }

kb() { awk '/^'"$2"':/ {print $2}' "/proc/$1/status"; }
cpu_s() {  # utime + stime of a process, in seconds
  awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"
}
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }

RSS_IDLE=$(kb "$AGENT_PID" VmRSS)
LOAD_REGISTER=$(cut -d' ' -f1-3 /proc/loadavg)
CPU0=$(cpu_s "$AGENT_PID")
echo "==> registering $NODES nodes × 5 services over $CONCURRENCY connections (load $LOAD_REGISTER)"
REG=$(python3 "$ROOT/bench/catalog_register.py" --host "$AGENT_IP" --port 8500 --nodes "$NODES" \
  --hot "$HOT" --concurrency "$CONCURRENCY" | tee /dev/stderr | grep '^RESULT')
CPU1=$(cpu_s "$AGENT_PID")
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<< " $2"; }
[ "$(field errors "$REG")" = 0 ] || { echo "registration errors" >&2; exit 1; }
REG_COUNT=$(field registrations "$REG")
AGENT_CPU_US=$(awk -v a="$CPU0" -v b="$CPU1" -v n="$REG_COUNT" 'BEGIN{printf "%.0f", (b - a) * 1e6 / n}')
sleep 1
RSS_LOADED=$(kb "$AGENT_PID" VmRSS)
HWM_LOADED=$(kb "$AGENT_PID" VmHWM)

# What was loaded, checked through the API.
count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
N_HOT=$(curl -sf "$URL/v1/health/service/hot?passing" | count)
N_NODES=$(curl -sf "$URL/v1/catalog/nodes" | count)
N_SERVICES=$(curl -sf "$URL/v1/catalog/services" | count)
[ "$N_HOT" = "$HOT" ] || { echo "health/service/hot?passing lists $N_HOT entries, not $HOT" >&2; exit 1; }
echo "==> loaded: $N_NODES nodes (the agent's own included), $N_SERVICES service names," \
  "$N_HOT passing instances of hot; RSS $(mb "$RSS_LOADED") MB"

declare -A RPS P50 P99 BYTES LOAD
run() {  # name path clients
  local name=$1 path=$2 clients=$3 threads=1 out line requests duration
  [ "$clients" -gt 1 ] && threads=2
  LOAD[$name.$clients]=$(cut -d' ' -f1-3 /proc/loadavg)
  wrk -t"$threads" -c"$clients" -d"${WARMUP}s" -s "$ROOT/bench/get_wrk.lua" "$URL$path" > /dev/null
  out=$(wrk -t"$threads" -c"$clients" -d"${DURATION}s" --timeout 10s -s "$ROOT/bench/get_wrk.lua" \
    "$URL$path")
  line=$(grep '^RESULT' <<< "$out") || { echo "$out" >&2; exit 1; }
  if [ "$(field errors "$line")" != 0 ] || [ "$(field non2xx "$line")" != 0 ]; then
    echo "$name c=$clients: errors in $line" >&2
    exit 1
  fi
  requests=$(field requests "$line")
  duration=$(field duration_us "$line")
  RPS[$name.$clients]=$(awk -v n="$requests" -v d="$duration" 'BEGIN{printf "%.0f", n * 1e6 / d}')
  P50[$name.$clients]=$(field p50_us "$line")
  P99[$name.$clients]=$(field p99_us "$line")
  BYTES[$name.$clients]=$(awk -v b="$(field bytes "$line")" -v n="$requests" 'BEGIN{printf "%.0f", b / n / 1024}')
  printf '    %-24s c=%-3s %8s req/s  p50 %7s us  p99 %7s us  %s KiB/answer\n' "$name" "$clients" \
    "${RPS[$name.$clients]}" "${P50[$name.$clients]}" "${P99[$name.$clients]}" "${BYTES[$name.$clients]}"
}
READS=("health-passing:/v1/health/service/hot?passing" "catalog-service:/v1/catalog/service/hot")
for spec in "${READS[@]}"; do
  for clients in $CLIENTS; do
    run "${spec%%:*}" "${spec#*:}" "$clients"
  done
done
# Agent CPU per answer against the answer's size, in the same catalog: 100 sequential requests
# (one curl, keep-alive) per service name, the agent's utime + stime before and after. CPU time
# moves less with the machine's load than wall time does.
declare -A SIZE_CPU SIZE_N SIZE_KB
SIZES=("hot:$HOT" "alpha-1:$(( (NODES - HOT) / 10 ))" "beta-1:$((NODES / 20))" "gamma-1:$((NODES / 50))" "delta-1:$((NODES / 100))" "epsilon-1:$((NODES / 1000))")
for spec in "${SIZES[@]}"; do
  name=${spec%%:*}
  urls=()
  for _ in $(seq 100); do urls+=("$URL/v1/health/service/$name?passing"); done
  c0=$(cpu_s "$AGENT_PID")
  bytes=$(curl -sf "${urls[@]}" | wc -c)
  c1=$(cpu_s "$AGENT_PID")
  SIZE_CPU[$name]=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", (b - a) * 1000 / 100}')
  SIZE_KB[$name]=$(awk -v b="$bytes" 'BEGIN{printf "%.0f", b / 100 / 1024}')
  SIZE_N[$name]=$(curl -sf "$URL/v1/health/service/$name?passing" | count)
  echo "    $name: ${SIZE_N[$name]} entries, ${SIZE_KB[$name]} KiB, agent CPU ${SIZE_CPU[$name]} ms per answer"
done
RSS_END=$(kb "$AGENT_PID" VmRSS)
HWM_END=$(kb "$AGENT_PID" VmHWM)

ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u / 1000}'; }
report() {
  echo "Catalog scale, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2> /dev/null || echo ' (+ uncommitted changes)')"
  echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))"
  echo "command: $COMMAND"
  echo
  echo "Registration: $REG_COUNT registrations ($NODES nodes × 5 services, one check each) over" \
    "$CONCURRENCY connections in $(field seconds "$REG") s = **$(field per_second "$REG")/s**;" \
    "agent CPU $AGENT_CPU_US µs per registration; client (python) CPU $(field client_cpu_s "$REG") s;" \
    "load average before: $LOAD_REGISTER."
  echo "Agent memory: VmRSS $(mb "$RSS_IDLE") MB idle, $(mb "$RSS_LOADED") MB after loading" \
    "(VmHWM $(mb "$HWM_LOADED") MB), $(mb "$RSS_END") MB after the reads (VmHWM $(mb "$HWM_END") MB)."
  echo "Loaded: $N_NODES nodes, $N_SERVICES service names, $N_HOT passing instances of hot."
  echo
  echo "| read | clients | req/s | p50 / p99 (ms) | answer (KiB) | load 1/5/15 before |"
  echo "|---|---|---|---|---|---|"
  local spec name clients
  for spec in "${READS[@]}"; do
    name=${spec%%:*}
    for clients in $CLIENTS; do
      echo "| \`GET ${spec#*:}\` | $clients | ${RPS[$name.$clients]} |" \
        "$(ms "${P50[$name.$clients]}") / $(ms "${P99[$name.$clients]}") | ${BYTES[$name.$clients]} |" \
        "${LOAD[$name.$clients]} |"
    done
  done
  echo
  echo "Agent CPU per answer of \`GET /v1/health/service/<name>?passing\` (100 sequential requests each, same catalog):"
  echo
  echo "| name | entries | answer (KiB) | agent CPU per answer (ms) | per entry (µs) |"
  echo "|---|---|---|---|---|"
  for spec in "${SIZES[@]}"; do
    name=${spec%%:*}
    echo "| $name | ${SIZE_N[$name]} | ${SIZE_KB[$name]} | ${SIZE_CPU[$name]} |" \
      "$(awk -v c="${SIZE_CPU[$name]}" -v n="${SIZE_N[$name]}" 'BEGIN{printf "%.1f", c * 1000 / n}') |"
  done
}
echo
report
if [ -n "$OUT" ]; then
  report > "$OUT"
  echo "==> written to $OUT"
fi
