#!/usr/bin/env bash
# KV: praetor vs etcd (issues 3 and 11). Runs the same KV workload against a 3-server praetor cluster and
# a 3-member etcd cluster on this machine, in one run, and prints PUT/s, GET/s, p50 and p99 for
# both and the ratios. Not part of the test suite; results and the exact command are recorded in
# docs/benchmarks.md ("KV: praetor vs etcd").
#
#   bash bench/kv_vs_etcd.sh [--duration SECONDS] [--ops "put get ..."] [--clients "1 32"]
#                            [--out FILE] [--keep]
#
# Workload: 1,000 keys (bench/k0000..k0999), 256-byte values, 1 and 32 concurrent keep-alive
# connections (wrk -c1 -t1, wrk -c32 -t2), each phase DURATION seconds (default 15) after a
# 3-second warm-up, always against the current leader of each cluster (the same rule for both).
# Ops (--ops, default all six, in this order; bench/kv_wrk.lua has the exact requests):
#   put             praetor PUT /v1/kv/<key> (raw body)     etcd POST /v3/kv/put
#   get             praetor GET /v1/kv/<key> (default:      etcd POST /v3/kv/range
#                   linearizable, ReadIndex)                (linearizable by default)
#   get-consistent  praetor GET ...?consistent              etcd range, linearizable (as get)
#   get-stale       praetor GET ...?stale                   etcd range, "serializable": true
#   txn-rw          praetor PUT /v1/txn [set k, get k]      etcd POST /v3/kv/txn [put k, range k]
#   txn-ro          praetor PUT /v1/txn [get k, get k+1]    etcd POST /v3/kv/txn [range k, range k+1]
# (JSON gateway for etcd, base64 keys and values.) The 1-minute load average is read before each
# op's phases and printed with its row.
# Both acknowledge a PUT only after a majority has fsynced it (etcd by default, praetor always).
# The phases alternate between the two systems so that load from elsewhere hits both alike.
#
# Addresses (loopback only): praetor on PRAETOR_IPS (default 127.0.0.70-72, default ports: server
# 8300, serf 8301/8302, HTTP 8500; -retry-join names the other two by address only, which works
# for discovery by hello and by gossip alike), etcd on ETCD_IPS (default 127.0.0.73-75, ports
# 2379/2380). (127.0.0.2-6 and .30-59 are left to the process tests that share the machine.) Data dirs live in a temporary directory on disk (BENCH_DIR to choose; removed
# unless --keep).
# Needs: etcd-server and wrk (installed with apt-get when missing), and the build dependencies
# of scripts/common.sh. The release build goes to build/bench-release (BUILD_DIR to change).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=15
WARMUP=3
OUT=""
KEEP=0
OPS="put get get-consistent get-stale txn-rw txn-ro"
CLIENTS="1 32"
COMMAND="bash bench/kv_vs_etcd.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --out) OUT=$2; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --ops) OPS=$2; shift 2 ;;
    --ops=*) OPS=${1#*=}; shift ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --clients=*) CLIENTS=${1#*=}; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
read -r -a PRAETOR_IPS <<< "${PRAETOR_IPS:-127.0.0.70 127.0.0.71 127.0.0.72}"
read -r -a ETCD_IPS <<< "${ETCD_IPS:-127.0.0.73 127.0.0.74 127.0.0.75}"
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench-release}

# ---- dependencies and build
source "$ROOT/scripts/common.sh"
install_deps
bench_missing=()
command -v etcd > /dev/null || bench_missing+=(etcd-server)
command -v wrk > /dev/null || bench_missing+=(wrk)
if [ ${#bench_missing[@]} -gt 0 ]; then
  echo "==> installing: ${bench_missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${bench_missing[@]}"
fi
export CCACHE_DIR="${CCACHE_DIR:-$ROOT/.cache/ccache}"
echo "==> building praetor (RelWithDebInfo, as the release preset) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_COMPILER_LAUNCHER=ccache > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target praetor > /dev/null
PRAETOR="$BUILD_DIR/cmd/praetor/praetor"

# ---- processes we start, and stopping them (only these, by pid)
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/praetor-kv-vs-etcd.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  if [ "$KEEP" = 1 ]; then echo "==> kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {  # ip port
  ! (exec 3<> "/dev/tcp/$1/$2") 2> /dev/null
}
for ip in "${PRAETOR_IPS[@]}"; do
  for port in 8300 8301 8302 8500; do
    port_free "$ip" "$port" || { echo "$ip:$port is in use (set PRAETOR_IPS)" >&2; exit 1; }
  done
done
for ip in "${ETCD_IPS[@]}"; do
  for port in 2379 2380; do
    port_free "$ip" "$port" || { echo "$ip:$port is in use (set ETCD_IPS)" >&2; exit 1; }
  done
done

# ---- praetor: 3 servers, bootstrap_expect=3, joined through retry_join (default ports)
for i in 0 1 2; do
  ip=${PRAETOR_IPS[$i]}
  dir="$WORK/praetor-s$((i + 1))"
  mkdir -p "$dir/data"
  join=()
  for j in 0 1 2; do [ "$j" = "$i" ] || join+=("-retry-join=${PRAETOR_IPS[$j]}"); done
  "$PRAETOR" agent -server -bootstrap-expect=3 -node="bench-s$((i + 1))" -data-dir="$dir/data" \
    -bind="$ip" -client="$ip" -dns-port=-1 "${join[@]}" > "$dir/agent.log" 2>&1 &
  PIDS+=($!)
done

# ---- etcd: 3 members, fsync as by default
cluster=""
for i in 0 1 2; do
  cluster+="${cluster:+,}e$((i + 1))=http://${ETCD_IPS[$i]}:2380"
done
for i in 0 1 2; do
  ip=${ETCD_IPS[$i]}
  dir="$WORK/etcd-e$((i + 1))"
  mkdir -p "$dir"
  etcd --name "e$((i + 1))" --data-dir "$dir/data" \
    --listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
    --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
    --initial-cluster "$cluster" --initial-cluster-token praetor-bench \
    --initial-cluster-state new --logger zap --log-outputs stderr > "$dir/etcd.log" 2>&1 &
  PIDS+=($!)
done

# ---- wait for leaders
praetor_leader() {  # prints the leader's IP once every server agrees on one
  local ip answer first=""
  for ip in "${PRAETOR_IPS[@]}"; do
    answer=$(curl -sf --max-time 2 "http://$ip:8500/v1/status/leader" 2> /dev/null) || return 1
    answer=${answer//\"/}
    answer=${answer%:*}
    [ -n "$answer" ] || return 1
    [ -z "$first" ] || [ "$first" = "$answer" ] || return 1
    first=$answer
  done
  echo "$first"
}
etcd_leader() {  # prints the leader's IP
  local ip status member leader
  for ip in "${ETCD_IPS[@]}"; do
    status=$(curl -sf --max-time 2 -X POST "http://$ip:2379/v3/maintenance/status" -d '{}' \
      2> /dev/null) || return 1
    member=$(sed -n 's/.*"member_id":"\([0-9]*\)".*/\1/p' <<< "$status")
    leader=$(sed -n 's/.*"leader":"\([0-9]*\)".*/\1/p' <<< "$status")
    if [ -n "$member" ] && [ "$member" = "$leader" ]; then
      echo "$ip"
      return 0
    fi
  done
  return 1
}
wait_for() {  # name function
  local result
  for _ in $(seq 300); do
    if result=$("$2"); then
      echo "$result"
      return 0
    fi
    sleep 0.2
  done
  echo "$1 did not elect a leader within 60 s; logs in $WORK" >&2
  KEEP=1
  return 1
}
P_LEADER=$(wait_for praetor praetor_leader)
E_LEADER=$(wait_for etcd etcd_leader)
echo "==> praetor leader $P_LEADER:8500, etcd leader $E_LEADER:2379"

# ---- preload every key, so that GETs find them
value_of() { local p; p=$(printf 'value-%04d-' "$1"); printf '%s%s' "$p" "$(head -c $((256 - ${#p})) /dev/zero | tr '\0' x)"; }
{
  for i in $(seq 0 999); do
    key=$(printf 'bench/k%04d' "$i")
    echo "url = \"http://$P_LEADER:8500/v1/kv/$key\""
    echo "request = \"PUT\""
    echo "data-binary = \"$(value_of "$i")\""
    echo "output = \"/dev/null\""
    [ "$i" = 999 ] || echo "next"
  done
} > "$WORK/praetor-preload.curl"
{
  for i in $(seq 0 999); do
    key=$(printf 'bench/k%04d' "$i")
    echo "url = \"http://$E_LEADER:2379/v3/kv/put\""
    echo "data-binary = \"{\\\"key\\\":\\\"$(printf '%s' "$key" | base64 -w0)\\\",\\\"value\\\":\\\"$(value_of "$i" | base64 -w0)\\\"}\""
    echo "output = \"/dev/null\""
    [ "$i" = 999 ] || echo "next"
  done
} > "$WORK/etcd-preload.curl"
curl -sf -K "$WORK/praetor-preload.curl"
curl -sf -K "$WORK/etcd-preload.curl"
for ip in "$P_LEADER"; do
  [ "$(curl -sf "http://$ip:8500/v1/kv/bench/k0999?raw")" = "$(value_of 999)" ] ||
    { echo "praetor preload failed" >&2; exit 1; }
done
curl -sf -X POST "http://$E_LEADER:2379/v3/kv/range" \
  -d "{\"key\":\"$(printf bench/k0999 | base64 -w0)\"}" | grep -q '"count":"1"' ||
  { echo "etcd preload failed" >&2; exit 1; }
# One request of each txn kind, checked by hand, so that a wrong body cannot pass as fast errors.
k0=$(printf bench/k0000 | base64 -w0)
v0=$(value_of 0 | base64 -w0)
curl -sf -X PUT "http://$P_LEADER:8500/v1/txn" \
  -d "[{\"KV\":{\"Verb\":\"set\",\"Key\":\"bench/k0000\",\"Value\":\"$v0\"}},{\"KV\":{\"Verb\":\"get\",\"Key\":\"bench/k0000\"}}]" |
  grep -q "\"Value\":\"$v0\"" || { echo "praetor txn check failed" >&2; exit 1; }
curl -sf -X POST "http://$E_LEADER:2379/v3/kv/txn" \
  -d "{\"success\":[{\"request_put\":{\"key\":\"$k0\",\"value\":\"$v0\"}},{\"request_range\":{\"key\":\"$k0\"}}]}" |
  grep -q '"succeeded":true.*"count":"1"' || { echo "etcd txn check failed" >&2; exit 1; }
curl -sf -X POST "http://$E_LEADER:2379/v3/kv/range" \
  -d "{\"key\":\"$k0\",\"serializable\":true}" | grep -q '"count":"1"' ||
  { echo "etcd serializable range check failed" >&2; exit 1; }
curl -sf "http://$P_LEADER:8500/v1/kv/bench/k0000?stale" -D - -o /dev/null |
  grep -qi '^X-Consul-Effective-Consistency: stale' || { echo "praetor ?stale check failed" >&2; exit 1; }

# ---- the runs
declare -A RPS P50 P99 LOAD
run() {  # target op clients
  local target=$1 op=$2 clients=$3 url threads=1 out line
  if [ "$target" = praetor ]; then url="http://$P_LEADER:8500"; else url="http://$E_LEADER:2379"; fi
  [ "$clients" -gt 1 ] && threads=2
  KV_TARGET=$target KV_OP=$op wrk -t"$threads" -c"$clients" -d"${WARMUP}s" \
    -s "$ROOT/bench/kv_wrk.lua" "$url" > /dev/null
  out=$(KV_TARGET=$target KV_OP=$op wrk -t"$threads" -c"$clients" -d"${DURATION}s" \
    --timeout 10s -s "$ROOT/bench/kv_wrk.lua" "$url")
  line=$(grep '^RESULT' <<< "$out") || { echo "$out" >&2; exit 1; }
  local requests duration p50 p99 errors non2xx
  requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<< "$line")
  duration=$(sed -n 's/.*duration_us=\([0-9]*\).*/\1/p' <<< "$line")
  p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<< "$line")
  p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<< "$line")
  errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<< "$line")
  non2xx=$(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<< "$line")
  if [ "$errors" != 0 ] || [ "$non2xx" != 0 ]; then
    echo "$target $op c=$clients: $errors socket errors, $non2xx non-2xx answers" >&2
    echo "$out" >&2
    exit 1
  fi
  RPS[$target.$op.$clients]=$(awk -v n="$requests" -v d="$duration" 'BEGIN{printf "%.0f", n * 1e6 / d}')
  P50[$target.$op.$clients]=$p50
  P99[$target.$op.$clients]=$p99
  printf '    %-8s %-3s c=%-2s %8s req/s  p50 %6s us  p99 %6s us\n' "$target" "$op" "$clients" \
    "${RPS[$target.$op.$clients]}" "$p50" "$p99"
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "==> workload: 1000 keys, 256-byte values, ${DURATION}s per phase (after ${WARMUP}s warm-up)"
for op in $OPS; do
  for clients in $CLIENTS; do
    LOAD[$op.$clients]=$(cut -d' ' -f1 /proc/loadavg)
    run praetor "$op" "$clients"
    run etcd "$op" "$clients"
  done
done

# ---- the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u / 1000}'; }
table() {
  echo "| op | clients | praetor ops/s | etcd ops/s | ratio | praetor p50 / p99 (ms) | etcd p50 / p99 (ms) | p99 ratio | load 1 min |"
  echo "|---|---|---|---|---|---|---|---|---|"
  local op clients p e
  for op in $OPS; do
    for clients in $CLIENTS; do
      p=praetor.$op.$clients
      e=etcd.$op.$clients
      echo "| ${op^^} | $clients | ${RPS[$p]} | ${RPS[$e]} | $(ratio "${RPS[$p]}" "${RPS[$e]}")× |" \
        "$(ms "${P50[$p]}") / $(ms "${P99[$p]}") | $(ms "${P50[$e]}") / $(ms "${P99[$e]}") |" \
        "$(ratio "${P99[$p]}" "${P99[$e]}") | ${LOAD[$op.$clients]} |"
    done
  done
}
header() {
  echo "KV: praetor vs etcd $(etcd --version | sed -n 's/^etcd Version: //p'), $(date -u '+%Y-%m-%d %H:%M UTC')," \
    "commit $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2> /dev/null || echo ' (+ uncommitted changes)')"
  echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: $COMMAND"
}
echo
header
table
if [ -n "$OUT" ]; then
  {
    header
    echo
    table
  } > "$OUT"
  echo "==> table written to $OUT"
fi
