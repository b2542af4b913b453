#!/usr/bin/env bash
# The company-DNS integration of the seed (§6; issue 13): dnsmasq, as Debian ships it, forwards
# `consul.` to a praetor agent (server=/consul/<agent>#8600), and a plain `dig` at dnsmasq gets
# the agent's answer for w-3333-mysql-test.service.consul: NOERROR, one A record, TTL 0, the same
# record the agent gives directly; SRV lookups pass through too. docs/user-guide.md §7 documents
# the setup.
#
#   bash tests/process/dns_integration.sh [--upstream praetor|nsd] [--praetor PATH]
#
# --upstream praetor (the default): a `praetor agent -dev` on 127.0.0.91 (DNS port 8600, HTTP
#   8500) with the service registered over HTTP. Needs an agent that serves DNS.
# --upstream nsd: NSD serving a static consul. zone with the same records on 127.0.0.91:8600, to
#   check the dnsmasq half (and this script) without the agent.
# dnsmasq listens on 127.0.0.90, port 53 when run as root (a plain dig; --bind-interfaces keeps
# it off every other address, so a system resolver on 127.0.0.1:53 or 127.0.0.53 is untouched),
# else port 5390. Needs dnsmasq (dnsmasq-base), dig (bind9-dnsutils) and, for --upstream nsd,
# nsd: scripts/common.sh installs the first two with the test dependencies.
# Exit 0 when every check passes; 1 with the failing check and the logs' tails otherwise. Every
# process it starts is stopped by pid on exit.
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
UPSTREAM=praetor
PRAETOR=${PRAETOR:-$ROOT/build/debug/cmd/praetor/praetor}
while [ $# -gt 0 ]; do
  case "$1" in
    --upstream) UPSTREAM=$2; shift 2 ;;
    --upstream=*) UPSTREAM=${1#*=}; shift ;;
    --praetor) PRAETOR=$2; shift 2 ;;
    --praetor=*) PRAETOR=${1#*=}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$UPSTREAM" in praetor|nsd) ;; *) echo "--upstream: praetor or nsd" >&2; exit 2 ;; esac

DNSMASQ_IP=127.0.0.90
UPSTREAM_IP=127.0.0.91
UPSTREAM_PORT=8600
if [ "$(id -u)" -eq 0 ]; then DNSMASQ_PORT=53; else DNSMASQ_PORT=5390; fi
NAME=w-3333-mysql-test.service.consul
ADDRESS=10.64.58.45
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
for tool in "$DNSMASQ" dig; do
  command -v "$tool" > /dev/null || { echo "missing $tool (apt-get install dnsmasq-base bind9-dnsutils)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/praetor-dns-integration.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL: $*" >&2
  local log
  for log in "$WORK"/*.log; do
    [ -f "$log" ] || continue
    echo "--- $(basename "$log") (last lines)" >&2
    tail -n 20 "$log" >&2
  done
  exit 1
}
pass() { echo "ok: $*"; }

# dig +noall +answer, with the header's status on a line of its own first.
ask() {  # server port name type
  dig +time=2 +tries=2 "@$1" -p "$2" "$3" "$4" 2> /dev/null |
    awk '/->>HEADER<<-/ { for (i = 1; i <= NF; i++) if ($i == "status:") { s = $(i + 1); sub(",", "", s); print "status " s } }
         /^;/ || NF == 0 { next } { print }'
}
wait_for_answer() {  # server port name type: up to 15 s
  for _ in $(seq 75); do
    ask "$@" | grep -q "^status NOERROR" && ask "$@" | grep -qv '^status' && return 0
    sleep 0.2
  done
  return 1
}

# ---- the upstream
if [ "$UPSTREAM" = nsd ]; then
  command -v nsd > /dev/null || { echo "missing nsd (apt-get install nsd)" >&2; exit 1; }
  cat > "$WORK/consul.zone" << EOF
\$ORIGIN consul.
\$TTL 0
@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
@ IN NS ns.consul.
ns IN A $UPSTREAM_IP
w-3333-mysql-test.service IN A $ADDRESS
_w-3333-mysql-test._tcp.service IN SRV 1 1 3306 mysql-1.node.dc1
mysql-1.node.dc1 IN A $ADDRESS
EOF
  cat > "$WORK/nsd.conf" << EOF
server:
  ip-address: $UPSTREAM_IP@$UPSTREAM_PORT
  port: $UPSTREAM_PORT
  username: ""
  chroot: ""
  zonesdir: "$WORK"
  pidfile: "$WORK/nsd.pid"
  database: ""
  zonelistfile: "$WORK/zone.list"
  xfrdfile: "$WORK/xfrd.state"
  xfrdir: "$WORK"
  logfile: "$WORK/nsd.log"
  minimal-responses: yes
remote-control:
  control-enable: no
zone:
  name: consul
  zonefile: consul.zone
EOF
  nsd -d -c "$WORK/nsd.conf" > "$WORK/nsd-stdout.log" 2>&1 &
  PIDS+=($!)
else
  [ -x "$PRAETOR" ] || { echo "no praetor binary at $PRAETOR (build it, or --praetor PATH)" >&2; exit 1; }
  "$PRAETOR" agent -dev -node=dns-integration -bind="$UPSTREAM_IP" -client="$UPSTREAM_IP" \
    -dns-port="$UPSTREAM_PORT" > "$WORK/agent.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -sf --max-time 1 "http://$UPSTREAM_IP:8500/v1/status/leader" | grep -q : && break
    sleep 0.2
  done
  curl -sf -X PUT "http://$UPSTREAM_IP:8500/v1/catalog/register" \
    -d "{\"Node\":\"mysql-1\",\"Address\":\"$ADDRESS\",\"Service\":{\"Service\":\"w-3333-mysql-test\",\"Port\":3306}}" \
    > /dev/null || fail "registering $NAME over HTTP"
fi
wait_for_answer "$UPSTREAM_IP" "$UPSTREAM_PORT" "$NAME" A || fail "$UPSTREAM answers directly"
DIRECT=$(ask "$UPSTREAM_IP" "$UPSTREAM_PORT" "$NAME" A)
pass "$UPSTREAM answers $NAME directly"

# ---- dnsmasq in front, as the company DNS
"$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
  --listen-address="$DNSMASQ_IP" --port="$DNSMASQ_PORT" \
  --server="/consul/$UPSTREAM_IP#$UPSTREAM_PORT" --rebind-domain-ok=/consul/ \
  --pid-file="$WORK/dnsmasq.pid" --log-facility="$WORK/dnsmasq.log" --log-queries \
  --user="$(id -un)" --group="$(id -gn)" > "$WORK/dnsmasq-stdout.log" 2>&1 &
PIDS+=($!)
wait_for_answer "$DNSMASQ_IP" "$DNSMASQ_PORT" "$NAME" A || fail "dnsmasq forwards $NAME"

VIA=$(ask "$DNSMASQ_IP" "$DNSMASQ_PORT" "$NAME" A)
grep -q '^status NOERROR$' <<< "$VIA" || fail "status through dnsmasq: $VIA"
records=$(grep -v '^status' <<< "$VIA")
[ "$(wc -l <<< "$records")" = 1 ] || fail "one A record through dnsmasq, got: $records"
read -r owner ttl class type value <<< "$records"
[ "$owner" = "$NAME." ] && [ "$class" = IN ] && [ "$type" = A ] && [ "$value" = "$ADDRESS" ] ||
  fail "the record through dnsmasq: $records"
[ "$ttl" = 0 ] || fail "TTL 0 through dnsmasq, got $ttl"
[ "$VIA" = "$DIRECT" ] || fail "dnsmasq's answer differs from the upstream's: '$VIA' vs '$DIRECT'"
pass "dig @$DNSMASQ_IP -p $DNSMASQ_PORT $NAME: NOERROR, $ADDRESS, TTL 0, as the upstream says"

SRV=$(ask "$DNSMASQ_IP" "$DNSMASQ_PORT" "_w-3333-mysql-test._tcp.service.consul" SRV)
grep -q "SRV.* 3306 " <<< "$SRV" || fail "SRV through dnsmasq: $SRV"
pass "SRV _w-3333-mysql-test._tcp.service.consul through dnsmasq"

# A name the agent does not know: its NXDOMAIN comes through as such (not SERVFAIL).
MISSING=$(ask "$DNSMASQ_IP" "$DNSMASQ_PORT" "no-such-service.service.consul" A)
grep -q '^status NXDOMAIN$' <<< "$MISSING" || fail "NXDOMAIN through dnsmasq: $MISSING"
pass "an unknown name under consul. is NXDOMAIN through dnsmasq"

grep -q "forwarded $NAME to $UPSTREAM_IP" "$WORK/dnsmasq.log" ||
  fail "dnsmasq's log does not show the query forwarded to $UPSTREAM_IP"
pass "dnsmasq's log shows the forward to $UPSTREAM_IP#$UPSTREAM_PORT"
echo "PASS: dnsmasq forwards consul. to $UPSTREAM"
