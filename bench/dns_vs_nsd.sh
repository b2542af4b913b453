#!/usr/bin/env bash
# DNS: praetor vs NSD and Knot (issue 13). Serves the same 100 service names from a `praetor
# agent -dev` (registered over HTTP), from NSD and from Knot (a static zone), and runs the same
# dnsperf load against each in one run: A and SRV lookups, QPS and average latency at peak, then
# p99 (and average) at half of each server's own peak QPS. Prints a markdown table with the
# ratios praetor/NSD and praetor/Knot. Not part of the test suite; results and the exact command
# are recorded in docs/benchmarks.md ("DNS (issue 13)").
#
#   bash bench/dns_vs_nsd.sh [--duration SECONDS] [--clients N] [--outstanding N] [--out FILE]
#                            [--keep] [--no-echo] [--peers-only]
#
# Names: svc-000 .. svc-099.service.consul. (A, one instance each, 10.0.0.1 .. 10.0.0.100) and
# _svc-NNN._tcp.service.consul. (SRV 1 1 8080 node-NNN.node.dc1.consul., whose A record is in
# the zone too, so NSD and Knot add it as Additional like the agent does). TTL 0, as the agent
# answers by default. NSD runs with minimal-responses (no NS records in Authority), as the agent
# and Knot answer, and with response rate limiting off (Debian's NSD limits each source network to
# 200 answers a second by default, and dnsperf is one source: with it on, this measures the
# limiter; Knot has no rate limiting unless its rrl module is configured). In praetor each name is a catalog registration (PUT /v1/catalog/register) of
# node node-NNN (address 10.0.0.N+1) with service svc-NNN on port 8080 and no checks.
#
# Load: dnsperf (Debian's 2.10) with -c CLIENTS (default 4) -q OUTSTANDING (default 100) -T 1,
# over UDP, DURATION seconds per run (default 15) after a 2-second warm-up, query files of the
# 100 names in order (A) and the 100 SRV names. The half-load run uses -Q (half the QPS that
# server reached at peak) and -v; its p99 is taken from the per-query latencies. The servers run
# one after another, A then SRV; the 1-minute load average is printed per row (the machine is
# shared: compare rows of one run, not runs).
#
# Servers (loopback only, 127.0.0.80-89, DNS port 8600 unless DNS_PORT is set):
#   NSD 4.6 on 127.0.0.80 (defaults: one server process), Knot 3.2 on 127.0.0.81 (defaults:
#   one UDP worker per core), praetor on 127.0.0.82 (agent -dev, HTTP on 127.0.0.82:8500), and
#   unless --no-echo the io/ ceiling on 127.0.0.83: bench/dns_echo_host, the same libuv host
#   answering every query with one canned A record (no DNS core), to tell the host's cost from
#   the resolver's.
# If praetor gives no DNS answer (before the agent serves DNS) its rows say so and the peers are
# still measured. --peers-only measures NSD and Knot alone (nothing is built).
# Needs dnsperf, nsd, knot and bind9-dnsutils (installed with apt-get when missing; Debian starts
# no nsd or knot service here only where policy-rc.d forbids it, so the script never uses the
# system daemons: it runs its own with their own configuration, and their system services, if
# running, listen on other addresses). The release build goes to build/bench-release (BUILD_DIR
# to change).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=15
WARMUP=2
CLIENTS=4
OUTSTANDING=100
OUT=""
KEEP=0
ECHO=1
PEERS_ONLY=0
COMMAND="bash bench/dns_vs_nsd.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --clients=*) CLIENTS=${1#*=}; shift ;;
    --outstanding) OUTSTANDING=$2; shift 2 ;;
    --outstanding=*) OUTSTANDING=${1#*=}; shift ;;
    --out) OUT=$2; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --keep) KEEP=1; shift ;;
    --no-echo) ECHO=0; shift ;;
    --peers-only) PEERS_ONLY=1; ECHO=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
PORT=${DNS_PORT:-8600}
NSD_IP=127.0.0.80
KNOT_IP=127.0.0.81
PRAETOR_IP=127.0.0.82
ECHO_IP=127.0.0.83
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench-release}

# ---- dependencies and build
source "$ROOT/scripts/common.sh"
install_deps
bench_missing=()
command -v dnsperf > /dev/null || bench_missing+=(dnsperf)
command -v nsd > /dev/null || bench_missing+=(nsd)
command -v knotd > /dev/null || bench_missing+=(knot)
command -v dig > /dev/null || bench_missing+=(bind9-dnsutils)
if [ ${#bench_missing[@]} -gt 0 ]; then
  echo "==> installing: ${bench_missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${bench_missing[@]}"
fi
if [ "$PEERS_ONLY" = 0 ]; then
export CCACHE_DIR="${CCACHE_DIR:-$ROOT/.cache/ccache}"
echo "==> building praetor and dns_echo_host (RelWithDebInfo, as the release preset) in $BUILD_DIR"
# Warnings are not errors here: g++ 12 at -O2 reports a false stringop-overflow in
# core/catalog/archive.cpp, and the debug and CI builds are where warnings are enforced.
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPRAETOR_WERROR=OFF \
  -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_COMPILER_LAUNCHER=ccache > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target praetor dns_echo_host > /dev/null
PRAETOR="$BUILD_DIR/cmd/praetor/praetor"
ECHO_HOST="$BUILD_DIR/bench/dns_echo_host"
fi

# ---- processes we start, and stopping them (only these, by pid)
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/praetor-dns-vs-nsd.XXXXXX")
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

udp_port_free() {  # ip port: nothing answers a DNS query there
  ! dig +time=1 +tries=1 +short "@$1" -p "$2" . SOA > /dev/null 2>&1
}
tcp_port_free() {  # ip port
  ! (exec 3<> "/dev/tcp/$1/$2") 2> /dev/null
}
for ip in "$NSD_IP" "$KNOT_IP" "$PRAETOR_IP" "$ECHO_IP"; do
  tcp_port_free "$ip" "$PORT" && udp_port_free "$ip" "$PORT" ||
    { echo "$ip:$PORT is in use (set DNS_PORT)" >&2; exit 1; }
done
[ "$PEERS_ONLY" = 1 ] || tcp_port_free "$PRAETOR_IP" 8500 ||
  { echo "$PRAETOR_IP:8500 is in use" >&2; exit 1; }

# ---- the zone: the same 100 names the agent serves
addr_of() { echo "10.0.$(($1 / 250)).$(($1 % 250 + 1))"; }
{
  echo '$ORIGIN consul.'
  echo '$TTL 0'
  echo '@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0'
  echo '@ IN NS ns.consul.'
  echo 'ns IN A 127.0.0.1'
  for i in $(seq 0 99); do
    n=$(printf %03d "$i")
    echo "svc-$n.service IN A $(addr_of "$i")"
    echo "_svc-$n._tcp.service IN SRV 1 1 8080 node-$n.node.dc1"
    echo "node-$n.node.dc1 IN A $(addr_of "$i")"
  done
} > "$WORK/consul.zone"
for i in $(seq 0 99); do printf 'svc-%03d.service.consul A\n' "$i"; done > "$WORK/queries-a.txt"
for i in $(seq 0 99); do printf '_svc-%03d._tcp.service.consul SRV\n' "$i"; done > "$WORK/queries-srv.txt"

# ---- NSD
mkdir -p "$WORK/nsd"
cat > "$WORK/nsd/nsd.conf" << EOF
server:
  ip-address: $NSD_IP@$PORT
  port: $PORT
  username: ""
  chroot: ""
  zonesdir: "$WORK"
  pidfile: "$WORK/nsd/nsd.pid"
  database: ""
  zonelistfile: "$WORK/nsd/zone.list"
  xfrdfile: "$WORK/nsd/xfrd.state"
  xfrdir: "$WORK/nsd"
  logfile: "$WORK/nsd/nsd.log"
  minimal-responses: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: consul
  zonefile: consul.zone
EOF
nsd-checkconf "$WORK/nsd/nsd.conf"
nsd -d -c "$WORK/nsd/nsd.conf" > "$WORK/nsd/stdout.log" 2>&1 &
PIDS+=($!)

# ---- Knot
mkdir -p "$WORK/knot/db"
cat > "$WORK/knot/knot.conf" << EOF
server:
  rundir: "$WORK/knot"
  listen: $KNOT_IP@$PORT
  pidfile: "$WORK/knot/knot.pid"
database:
  storage: "$WORK/knot/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$WORK"
    file: "%s.zone"
    semantic-checks: off
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: consul
EOF
knotc -c "$WORK/knot/knot.conf" conf-check > /dev/null
knotd -c "$WORK/knot/knot.conf" > "$WORK/knot/stdout.log" 2>&1 &
PIDS+=($!)

answers() {  # ip name type: the answer section's records, one per line (empty when none)
  # (dig prints its errors, "connection refused" and the like, as ;; lines on stdout.)
  { dig +time=1 +tries=1 +norec +noall +answer "@$1" -p "$PORT" "$2" "$3" 2> /dev/null || true; } |
    awk '!/^;/ && NF >= 5'
}
wait_answer() {  # label ip: waits up to 15 s for an A answer for svc-000
  for _ in $(seq 75); do
    [ -n "$(answers "$2" svc-000.service.consul A)" ] && return 0
    sleep 0.2
  done
  return 1
}

# ---- praetor: a dev agent with DNS on PRAETOR_IP:PORT, and the io/ ceiling
PRAETOR_DNS=0
if [ "$PEERS_ONLY" = 0 ]; then
mkdir -p "$WORK/praetor"
"$PRAETOR" agent -dev -node=dns-bench -bind="$PRAETOR_IP" -client="$PRAETOR_IP" \
  -dns-port="$PORT" -serf-lan-port=8301 > "$WORK/praetor/agent.log" 2>&1 &
PIDS+=($!)
if [ "$ECHO" = 1 ]; then
  "$ECHO_HOST" "$ECHO_IP" "$PORT" > "$WORK/echo.log" 2>&1 &
  PIDS+=($!)
fi

fi
wait_answer NSD "$NSD_IP" || { echo "NSD did not answer; logs in $WORK" >&2; KEEP=1; exit 1; }
wait_answer Knot "$KNOT_IP" || { echo "Knot did not answer; logs in $WORK" >&2; KEEP=1; exit 1; }
if [ "$ECHO" = 1 ]; then
  wait_answer echo "$ECHO_IP" || { echo "dns_echo_host did not answer" >&2; KEEP=1; exit 1; }
fi

if [ "$PEERS_ONLY" = 0 ]; then
# Register the 100 services once the agent's HTTP API answers.
for _ in $(seq 100); do
  curl -sf --max-time 1 "http://$PRAETOR_IP:8500/v1/status/leader" | grep -q : && break
  sleep 0.2
done
{
  for i in $(seq 0 99); do
    n=$(printf %03d "$i")
    echo "url = \"http://$PRAETOR_IP:8500/v1/catalog/register\""
    echo "request = \"PUT\""
    echo "data = \"{\\\"Node\\\":\\\"node-$n\\\",\\\"Address\\\":\\\"$(addr_of "$i")\\\",\\\"Service\\\":{\\\"Service\\\":\\\"svc-$n\\\",\\\"Port\\\":8080}}\""
    echo "output = \"/dev/null\""
    [ "$i" = 99 ] || echo "next"
  done
} > "$WORK/praetor/register.curl"
curl -sf -K "$WORK/praetor/register.curl" ||
  { echo "registering the services in praetor failed; logs in $WORK" >&2; KEEP=1; exit 1; }
curl -sf "http://$PRAETOR_IP:8500/v1/catalog/service/svc-099" | grep -q '"ServicePort":8080' ||
  { echo "praetor does not list svc-099 after registering it" >&2; KEEP=1; exit 1; }
PRAETOR_DNS=1
if ! wait_answer praetor "$PRAETOR_IP"; then
  PRAETOR_DNS=0
  echo "==> praetor gives no DNS answer on $PRAETOR_IP:$PORT (is DNS served yet?); measuring the peers only"
fi
# The answers must be the same records everywhere (praetor's SRV target is its node name).
if [ "$PRAETOR_DNS" = 1 ]; then
  for name in svc-042.service.consul; do
    a=$(answers "$NSD_IP" "$name" A | awk '{print $5}')
    b=$(answers "$PRAETOR_IP" "$name" A | awk '{print $5}')
    [ "$a" = "$b" ] || { echo "praetor answers $name with '$b', NSD with '$a'" >&2; exit 1; }
  done
fi

fi

# ---- the runs
declare -A QPS AVG HALF_QPS HALF_AVG HALF_P99 LOAD
dnsperf_run() {  # ip queries-file [extra dnsperf args...]: prints dnsperf's output
  local ip=$1 file=$2
  shift 2
  dnsperf -s "$ip" -p "$PORT" -d "$file" -c "$CLIENTS" -q "$OUTSTANDING" -T 1 "$@" 2>&1
}
field() {  # output label: the first number after "label:"
  sed -n "s/^ *$2: *\([0-9.]*\).*/\1/p" <<< "$1" | head -1
}
measure() {  # target ip qtype
  local target=$1 ip=$2 qtype=$3 file out qps avg half_rate half
  file="$WORK/queries-${qtype,,}.txt"
  LOAD[$target.$qtype]=$(cut -d' ' -f1 /proc/loadavg)
  dnsperf_run "$ip" "$file" -l "$WARMUP" > /dev/null
  out=$(dnsperf_run "$ip" "$file" -l "$DURATION")
  if ! grep -q "NOERROR" <<< "$out" || grep -Eq "(SERVFAIL|NXDOMAIN|REFUSED|FORMERR)" <<< "$out"; then
    echo "$target $qtype: answers other than NOERROR" >&2
    echo "$out" >&2
    exit 1
  fi
  qps=$(field "$out" "Queries per second")
  avg=$(field "$out" "Average Latency (s)")
  QPS[$target.$qtype]=$(printf '%.0f' "$qps")
  AVG[$target.$qtype]=$(awk -v s="$avg" 'BEGIN{printf "%.0f", s * 1e6}')
  half_rate=$(awk -v q="$qps" 'BEGIN{printf "%d", q / 2}')
  half=$(dnsperf_run "$ip" "$file" -l "$DURATION" -Q "$half_rate" -v)
  HALF_QPS[$target.$qtype]=$(printf '%.0f' "$(field "$half" "Queries per second")")
  HALF_AVG[$target.$qtype]=$(awk -v s="$(field "$half" "Average Latency (s)")" 'BEGIN{printf "%.0f", s * 1e6}')
  HALF_P99[$target.$qtype]=$(grep '^> ' <<< "$half" | awk '{print $NF}' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) {print "-"; exit} i = int(NR * 0.99); if (i < 1) i = 1; printf "%.0f", v[i] * 1e6}')
  printf '    %-8s %-3s %8s qps  avg %5s us | at %7s qps: avg %5s us p99 %5s us  (load %s)\n' \
    "$target" "$qtype" "${QPS[$target.$qtype]}" "${AVG[$target.$qtype]}" \
    "${HALF_QPS[$target.$qtype]}" "${HALF_AVG[$target.$qtype]}" "${HALF_P99[$target.$qtype]}" \
    "${LOAD[$target.$qtype]}"
}
TARGETS=(nsd knot)
[ "$PRAETOR_DNS" = 1 ] && TARGETS+=(praetor)
[ "$ECHO" = 1 ] && TARGETS+=(echo)
ip_of() {
  case "$1" in nsd) echo "$NSD_IP" ;; knot) echo "$KNOT_IP" ;; praetor) echo "$PRAETOR_IP" ;;
    echo) echo "$ECHO_IP" ;; esac
}
echo "==> dnsperf -c $CLIENTS -q $OUTSTANDING -T 1, ${DURATION}s per run after ${WARMUP}s warm-up"
for qtype in A SRV; do
  for target in "${TARGETS[@]}"; do
    # The echo host answers every query with an A record: it is the ceiling for A only.
    [ "$target" = echo ] && [ "$qtype" = SRV ] && continue
    measure "$target" "$(ip_of "$target")" "$qtype"
  done
done

# ---- the table
ratio() {  # a b
  if [ -z "${1:-}" ] || [ -z "${2:-}" ] || [ "$2" = 0 ]; then echo "-"; return; fi
  awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f×", a / b}'
}
name_of() {
  case "$1" in nsd) echo "NSD $(nsd -v 2>&1 | sed -n 's/^NSD version //p')" ;;
    knot) echo "Knot $(knotd -V | sed -n 's/.*version //p')" ;;
    praetor) echo "praetor agent -dev" ;; echo) echo "io/ ceiling (dns_echo_host)" ;; esac
}
{
  echo "| query | server | peak QPS | avg at peak (µs) | QPS at half load | avg at half (µs) | p99 at half (µs) | load avg |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for qtype in A SRV; do
    for target in nsd knot praetor echo; do
      [ "$target" = echo ] && { [ "$ECHO" = 1 ] && [ "$qtype" = A ] || continue; }
      if [ "$target" = praetor ] && [ "$PRAETOR_DNS" = 0 ]; then
        [ "$PEERS_ONLY" = 1 ] && continue
        echo "| $qtype | $(name_of praetor) | no DNS answer | | | | | |"
        continue
      fi
      k=$target.$qtype
      echo "| $qtype | $(name_of "$target") | ${QPS[$k]} | ${AVG[$k]} | ${HALF_QPS[$k]} | ${HALF_AVG[$k]} | ${HALF_P99[$k]} | ${LOAD[$k]} |"
    done
  done
  echo
  for qtype in A SRV; do
    echo "$qtype: praetor/NSD $(ratio "${QPS[praetor.$qtype]:-}" "${QPS[nsd.$qtype]}"), praetor/Knot $(ratio "${QPS[praetor.$qtype]:-}" "${QPS[knot.$qtype]}")$([ "$ECHO" = 1 ] && [ "$qtype" = A ] && echo ", io ceiling/NSD $(ratio "${QPS[echo.A]}" "${QPS[nsd.A]}")")"
  done
  echo
  echo "Command: \`$COMMAND\` ($(nproc) cores, $(date -u +%Y-%m-%d))"
} > "$WORK/table.md"
echo
cat "$WORK/table.md"
if [ -n "$OUT" ]; then cp "$WORK/table.md" "$OUT"; fi
