#!/usr/bin/env bash
# The seed's deployment end to end with real `praetor agent` processes, on loopback (issue 14).
# ../shared/docs/seed-walkthrough.md tells the story: Consul for MySQL high availability across
# the datacenters shenzhen and foshan. This script runs it with praetor in place of consul:
#
#   bash tests/e2e/seed/run.sh          # from the repository root; or ctest -R e2e_seed
#
#   S1      127.0.0.2  server  shenzhen  bootstrap_expect 2   s1.json
#   S2      127.0.0.3  server  foshan    bootstrap_expect 1   s2.json
#   S3      127.0.0.4  server  shenzhen  bootstrap_expect 2   s3.json
#   Client1 127.0.0.5  client  shenzhen                       client1.json
#   Client2 127.0.0.6  client  shenzhen                       client2.json
#
# The JSON files beside this script are the seed's server.json / client.json with the addresses
# adapted (@DATA_DIR@ becomes a temp dir). Deviations from the seed, and why:
#   - bootstrap_expect 2 on S1 and S3, not the seed's 1: two servers that each expect one would
#     each bootstrap a cluster of their own, two shenzhen clusters. With 2 they wait for each
#     other and form one. They find each other through retry_join (the seed's servers have no
#     join at all; its operator joined them by hand).
#   - client_addr is each agent's own address, not 0.0.0.0 (every agent binds HTTP 8500 and DNS
#     8600 on its own loopback address, so the five agents share one machine), and DNS stays on
#     8600 instead of the seed's 53.
#   - the clients' retry_interval is 2s instead of 30s, to keep the run short.
#   - the MySQL checks run every CHECK_INTERVAL (2 s) instead of 15 s, and the "MySQL" they ask
#     is a role file (check_mysql_master.sh / check_mysql_slave.sh here).
#
# Steps, each asserted (polling with a deadline), every failure recorded and the run continued:
#   1. S1 and S2 start (nohup praetor agent -config-dir=<dir> > consul.log); S1, alone in
#      shenzhen, logs `No cluster leader`; S2 elects itself; S3 starts and S1 and S3 log
#      `New leader elected`.
#   2. praetor join -wan 127.0.0.2 127.0.0.4 127.0.0.3; members -wan lists S1.shenzhen,
#      S2.foshan, S3.shenzhen alive servers on :8302; operator raft list-peers one leader and one
#      follower in shenzhen.
#   3. the clients start; members at a client lists S1, S3, Client1, Client2 (not S2).
#   4. the seed's two MySQL service files are copied into each client's config dir, praetor
#      reload; dig: w-3333-mysql-test answers Client1 (the master), r-3333-mysql-test Client2:
#      NOERROR, flags qr aa rd, one A record, TTL 0.
#   5. the switchover: the role files flip; dig at Client1 answers the new master alone within
#      CHECK_INTERVAL + 2 s (the time is printed).
#   6. from foshan: dig @S2 w-3333-mysql-test.service.shenzhen.consul and
#      /v1/catalog/services?dc=shenzhen (need cross-datacenter forwarding).
#   7. kill -9 of the shenzhen Raft leader. With two shenzhen servers (the seed's topology) the
#      survivor is one voter of two and cannot elect itself: Raft needs a majority, 2 of 2. So
#      writes fail until the killed server is back, while DNS (allow_stale) and ?stale reads keep
#      answering from the survivor's catalog. Then the killed server restarts on its data_dir:
#      a leader is elected again and a KV write succeeds.
#
# Environment: PRAETOR_BIN (default build/debug/cmd/praetor/praetor), CHECK_INTERVAL (seconds,
# default 2), KEEP=1 keeps the temp dir with every agent's data and consul.log.
# Only the processes this script starts are signalled, by pid. Exit: 0 every step passed, 1 some
# failed (each listed at the end), 77 skipped (dig or curl missing and not root to install them).
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../../.." && pwd)
PRAETOR_BIN=${PRAETOR_BIN:-$REPO/build/debug/cmd/praetor/praetor}
CHECK_INTERVAL=${CHECK_INTERVAL:-2}
FLIP_BOUND_MS=$(((CHECK_INTERVAL + 2) * 1000))

SERVERS=(S1 S2 S3)
CLIENTS=(Client1 Client2)
declare -A ADDR=([S1]=127.0.0.2 [S2]=127.0.0.3 [S3]=127.0.0.4 [Client1]=127.0.0.5 [Client2]=127.0.0.6)
declare -A CONF=([S1]=s1.json [S2]=s2.json [S3]=s3.json [Client1]=client1.json [Client2]=client2.json)
declare -A PID=()
MASTER=w-3333-mysql-test
REPLICA=r-3333-mysql-test
TMP=""

ts() { date +%H:%M:%S.%3N; }
log() { echo "[$(ts)] $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# ---------------------------------------------------------------- tools
for tool in dig:bind9-dnsutils curl:curl ss:iproute2; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then echo "SKIP: ${tool%%:*} missing (apt-get install ${tool#*:})"; exit 77; fi
    log "installing ${tool#*:}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${tool#*:}" >/dev/null \
      || { echo "FAIL: could not install ${tool#*:}"; exit 1; }
  fi
done
[[ -x $PRAETOR_BIN ]] || { echo "FAIL: no praetor binary at $PRAETOR_BIN (build it, or set PRAETOR_BIN)"; exit 1; }

# ---------------------------------------------------------------- results, cleanup
PASSED=()
FAILURES=()
pass() { PASSED+=("$1"); log "PASS: $1"; }
fail() { FAILURES+=("$1"); log "FAIL: $1"; }
# check <description> <command...>: one assertion, recorded either way.
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

dump_logs() {
  local n
  for n in "${SERVERS[@]}" "${CLIENTS[@]}"; do
    [[ -f $TMP/$n/consul.log ]] && { echo "---- $n: $TMP/$n/consul.log (last 40 lines)"; tail -40 "$TMP/$n/consul.log"; }
  done
}

cleanup() {
  local rc=$? n
  set +e
  for n in "${!PID[@]}"; do pid_alive "${PID[$n]}" && kill -TERM "${PID[$n]}"; done
  local deadline=$((SECONDS + 5))
  for n in "${!PID[@]}"; do
    while pid_alive "${PID[$n]}" && ((SECONDS < deadline)); do sleep 0.1; done
    pid_alive "${PID[$n]}" && kill -KILL "${PID[$n]}"
  done
  wait 2>/dev/null
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fatal: a step everything after it depends on failed; report and stop.
fatal() {
  fail "$1"
  dump_logs
  report
}

report() {
  echo
  echo "==== e2e_seed: ${#PASSED[@]} passed, ${#FAILURES[@]} failed"
  local f
  for f in "${FAILURES[@]}"; do echo "  FAILED: $f"; done
  if ((${#FAILURES[@]})); then exit 1; fi
  exit 0
}

# wait_until <seconds> <command...>: polls every 0.2 s until the command succeeds.
wait_until() {
  local deadline=$(($(now_ms) + $1 * 1000)); shift
  while :; do
    "$@" && return 0
    (($(now_ms) < deadline)) || return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------- agents
# The addresses must be free: another test run (ours or another checkout's) may hold them; wait
# for it rather than disturb it.
addresses_free() {
  local a busy=""
  for a in "${ADDR[@]}"; do
    busy+=$(ss -Htuln "( src $a )" 2>/dev/null)
  done
  [[ -z $busy ]]
}
if ! addresses_free; then
  log "127.0.0.2-6 are in use by another process; waiting up to 120 s"
  if ! wait_until 120 addresses_free; then
    for a in "${ADDR[@]}"; do ss -Htulnp "( src $a )"; done
    echo "FAIL: 127.0.0.2-6 still in use after 120 s (another test run?); nothing was started"
    exit 1
  fi
fi

TMP=$(mktemp -d /tmp/praetor-e2e-seed-XXXXXX)
log "temp dir $TMP; praetor $PRAETOR_BIN; check interval ${CHECK_INTERVAL}s"

# The seed's layout per host: a config dir (/etc/consul.d), a data dir (/data/consul) and a
# shell dir (/data/consul/shell) for the check scripts.
for n in "${SERVERS[@]}" "${CLIENTS[@]}"; do
  mkdir -p "$TMP/$n/config" "$TMP/$n/shell"
  sed "s|@DATA_DIR@|$TMP/$n/data|g" "$SCRIPT_DIR/${CONF[$n]}" >"$TMP/$n/config/${CONF[$n]}"
done

# As the seed starts them: nohup, stdout to a log file. nohup execs praetor, so $! is its pid.
start_agent() {
  local n=$1
  nohup "$PRAETOR_BIN" agent -config-dir="$TMP/$n/config" >>"$TMP/$n/consul.log" 2>&1 &
  PID[$n]=$!
  log "started $n (pid ${PID[$n]}) on ${ADDR[$n]}"
}
http() { curl -sf --max-time 5 "http://${ADDR[$1]}:8500$2"; }
answers_http() { http "$1" /v1/agent/self >/dev/null; }
wait_http() {
  local n=$1
  wait_until 15 answers_http "$n" && return 0
  pid_alive "${PID[$n]}" || fatal "$n exited at start (address in use? see its log)"
  fatal "$n does not answer HTTP on ${ADDR[$n]}:8500 within 15 s"
}
logged() { grep -qF -- "$2" "$TMP/$1/consul.log"; }
leader_of() { http "$1" /v1/status/leader; }
has_leader() { [[ $(leader_of "$1") == \"*:8300\" ]]; }
no_leader() { [[ $(leader_of "$1") == '""' ]]; }

# ---------------------------------------------------------------- 1. servers
log "---- 1. servers: S1 alone in shenzhen, S2 in foshan, then S3"
start_agent S1
start_agent S2
wait_http S1
wait_http S2
banner_ok() {
  logged S1 "Node name: 'S1'" && logged S1 "Datacenter: 'shenzhen'" && logged S1 "Server: true" &&
    logged S1 "Client Addr: [127.0.0.2] (HTTP: 8500, HTTPS: -1, DNS: 8600)"
}
check "S1's consul.log shows the banner: node name, datacenter, server, client address and ports" banner_ok
dns_started() { logged S1 "Started DNS server 127.0.0.2:8600 (udp)" && logged S1 "Started DNS server 127.0.0.2:8600 (tcp)"; }
check "S1 logs Started DNS server 127.0.0.2:8600 (udp) and (tcp)" wait_until 5 dns_started
check "S2 (foshan, bootstrap_expect 1) elects itself: New leader elected: S2" \
  wait_until 20 logged S2 "New leader elected: S2"
t=$(now_ms)
if wait_until 45 logged S1 "No cluster leader"; then
  pass "S1 alone in shenzhen (bootstrap_expect 2) logs 'No cluster leader' ($(secs $(($(now_ms) - t))) s after S2 elected)"
else
  fail "S1 alone in shenzhen logs 'No cluster leader' within 45 s"
fi
check "S1 has elected nobody while alone" eval '! logged S1 "New leader elected" && no_leader S1'

start_agent S3
wait_http S3
check "S1 logs New leader elected once S3 joins" wait_until 20 logged S1 "New leader elected"
check "S3 logs New leader elected" wait_until 20 logged S3 "New leader elected"
has_leader S1 || wait_until 10 has_leader S1 || fatal "shenzhen has no Raft leader (/v1/status/leader on S1)"
for n in S1 S3; do
  grep -h "New leader elected" "$TMP/$n/consul.log" | tail -1 | sed "s/^/  $n: /"
done
check "S1 and S3 agree on the leader" eval '[[ $(leader_of S1) == $(leader_of S3) ]]'

# ---------------------------------------------------------------- 2. WAN
log "---- 2. join -wan, members -wan, raft list-peers"
out=$("$PRAETOR_BIN" join -wan -http-addr=127.0.0.2:8500 127.0.0.2 127.0.0.4 127.0.0.3 2>&1)
rc=$?
echo "$out" | sed 's/^/  /'
check "praetor join -wan 127.0.0.2 127.0.0.4 127.0.0.3: Successfully joined cluster by contacting 3 nodes" \
  eval '[[ $rc -eq 0 && $out == *"Successfully joined cluster by contacting 3 nodes."* ]]'

# member_row <output> <name> <address> <status> <type>
member_row() {
  awk -v n="$2" -v a="$3" -v s="$4" -v t="$5" '$1 == n && $2 == a && $3 == s && $4 == t { f = 1 } END { exit !f }' <<<"$1"
}
wan_complete() {
  local at=$1 out
  out=$("$PRAETOR_BIN" members -wan -http-addr="${ADDR[$at]}:8500" 2>&1) || return 1
  WAN_OUT=$out
  member_row "$out" S1.shenzhen 127.0.0.2:8302 alive server &&
    member_row "$out" S2.foshan 127.0.0.3:8302 alive server &&
    member_row "$out" S3.shenzhen 127.0.0.4:8302 alive server &&
    [[ $(grep -c . <<<"$out") -eq 4 ]]
}
WAN_OUT=""
for n in S1 S2 S3; do
  if wait_until 20 wan_complete "$n"; then
    pass "members -wan at $n lists S1.shenzhen, S2.foshan, S3.shenzhen alive server on :8302"
  else
    fail "members -wan at $n lists S1.shenzhen, S2.foshan, S3.shenzhen alive server on :8302"
  fi
done
echo "$WAN_OUT" | sed 's/^/  /'

PEERS=""
peers_ok() {
  PEERS=$("$PRAETOR_BIN" operator raft list-peers -http-addr="${ADDR[$1]}:8500" 2>&1) || return 1
  [[ $(awk 'NR > 1' <<<"$PEERS" | wc -l) -eq 2 ]] &&
    [[ $(awk 'NR > 1 && $4 == "leader"' <<<"$PEERS" | wc -l) -eq 1 ]] &&
    [[ $(awk 'NR > 1 && $4 == "follower"' <<<"$PEERS" | wc -l) -eq 1 ]] &&
    awk 'NR > 1 && $1 == "S1" && $3 == "127.0.0.2:8300" && $5 == "true" { f = 1 } END { exit !f }' <<<"$PEERS" &&
    awk 'NR > 1 && $1 == "S3" && $3 == "127.0.0.4:8300" && $5 == "true" { f = 1 } END { exit !f }' <<<"$PEERS"
}
check "operator raft list-peers at S1: S1 and S3 (:8300, voters), one leader and one follower" \
  wait_until 10 peers_ok S1
echo "$PEERS" | sed 's/^/  /'
check "operator raft list-peers at S3 agrees" wait_until 10 peers_ok S3

# ---------------------------------------------------------------- 3. clients
log "---- 3. clients"
for n in "${CLIENTS[@]}"; do start_agent "$n"; done
for n in "${CLIENTS[@]}"; do wait_http "$n"; done
MEMBERS=""
lan_complete() {
  MEMBERS=$("$PRAETOR_BIN" members -http-addr="${ADDR[$1]}:8500" 2>&1) || return 1
  member_row "$MEMBERS" S1 127.0.0.2:8301 alive server &&
    member_row "$MEMBERS" S3 127.0.0.4:8301 alive server &&
    member_row "$MEMBERS" Client1 127.0.0.5:8301 alive client &&
    member_row "$MEMBERS" Client2 127.0.0.6:8301 alive client &&
    [[ $(grep -c . <<<"$MEMBERS") -eq 5 ]]
}
for n in "${CLIENTS[@]}"; do
  check "members at $n: S1, S3 servers and Client1, Client2 clients alive on :8301, nothing else (not S2)" \
    wait_until 20 lan_complete "$n"
done
echo "$MEMBERS" | sed 's/^/  /'

# ---------------------------------------------------------------- 4. MySQL services
log "---- 4. the seed's MySQL services on each client, praetor reload, dig"
# set_role <client> master|replica: what the fake MySQL on port 3333 of that client is.
set_role() {
  echo "$2" >"$TMP/$1/shell/mysql-3333.role.tmp" && mv "$TMP/$1/shell/mysql-3333.role.tmp" "$TMP/$1/shell/mysql-3333.role"
}
for n in "${CLIENTS[@]}"; do
  cp "$SCRIPT_DIR/check_mysql_master.sh" "$SCRIPT_DIR/check_mysql_slave.sh" "$TMP/$n/shell/"
done
set_role Client1 master
set_role Client2 replica
for n in "${CLIENTS[@]}"; do
  for svc in "$MASTER" "$REPLICA"; do
    sed -e "s|@ADDRESS@|${ADDR[$n]}|g" -e "s|@SHELL_DIR@|$TMP/$n/shell|g" \
      -e "s|@INTERVAL@|${CHECK_INTERVAL}s|g" "$SCRIPT_DIR/$svc.json" >"$TMP/$n/config/$svc.json"
  done
  out=$("$PRAETOR_BIN" reload -http-addr="${ADDR[$n]}:8500" 2>&1)
  rc=$?
  check "praetor reload at $n: Configuration reload triggered" \
    eval '[[ $rc -eq 0 && $out == *"Configuration reload triggered"* ]]'
  [[ $rc -eq 0 ]] || echo "  $out"
done

# dig_a <server> <name>: sets DIG (dig's output), DIG_STATUS, DIG_FLAGS and DIG_ANSWER (the
# answer section, one record a line: name ttl class type data).
dig_a() {
  DIG=$(dig +time=1 +tries=1 "@$1" -p 8600 "$2" A 2>&1)
  DIG_STATUS=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$DIG")
  DIG_FLAGS=$(sed -n 's/^;; flags: \([^;]*\);.*/\1/p' <<<"$DIG")
  DIG_ANSWER=$(awk '/^;; ANSWER SECTION:/ { a = 1; next } /^$/ { a = 0 } a && !/^;/' <<<"$DIG")
}
# answers_only <server> <name> <address>: NOERROR, aa, exactly one A record, that address, TTL 0.
answers_only() {
  dig_a "$1" "$2"
  [[ $DIG_STATUS == NOERROR && " $DIG_FLAGS " == *" aa "* ]] &&
    [[ $(grep -c . <<<"$DIG_ANSWER") -eq 1 ]] &&
    awk -v a="$3" '$2 == 0 && $4 == "A" && $5 == a { f = 1 } END { exit !f }' <<<"$DIG_ANSWER"
}
show_dig() { echo "  dig @$1 -p 8600 $2: status $DIG_STATUS, flags [$DIG_FLAGS]"; sed 's/^/    /' <<<"$DIG_ANSWER"; }

for q in "Client1 $MASTER 127.0.0.5" "Client1 $REPLICA 127.0.0.6" "Client2 $MASTER 127.0.0.5" "S1 $MASTER 127.0.0.5"; do
  read -r at name want <<<"$q"
  # The checks start critical and pass at their first run, within one interval of the reload.
  check "dig @${ADDR[$at]} $name.service.consul: NOERROR, aa, one A $want, TTL 0" \
    wait_until 10 answers_only "${ADDR[$at]}" "$name.service.consul" "$want"
  show_dig "${ADDR[$at]}" "$name.service.consul"
done
dig_a 127.0.0.5 "$MASTER.service.consul"
check "the seed's flags: qr aa rd, no ra (dig warns: recursion requested but not available)" \
  eval '[[ " $DIG_FLAGS " == *" qr "* && " $DIG_FLAGS " == *" rd "* && " $DIG_FLAGS " != *" ra "* && $DIG == *"recursion requested but not available"* ]]'
dig_a 127.0.0.3 "$MASTER.service.consul"
check "foshan's own catalog has no $MASTER: dig @127.0.0.3 $MASTER.service.consul is NXDOMAIN" \
  eval '[[ $DIG_STATUS == NXDOMAIN ]]'

# ---------------------------------------------------------------- 5. switchover
log "---- 5. switchover: Client2 becomes the master"
set_role Client1 replica
set_role Client2 master
t_flip=$(now_ms)
if wait_until 15 answers_only 127.0.0.5 "$MASTER.service.consul" 127.0.0.6; then
  flip_ms=$(($(now_ms) - t_flip))
  log "FLIP: dig @127.0.0.5 $MASTER.service.consul answers 127.0.0.6 alone $(secs $flip_ms) s after the role files flipped"
  check "the flip reaches DNS within one check interval + 2 s ($(secs $flip_ms) s <= $(secs $FLIP_BOUND_MS) s)" \
    eval '((flip_ms <= FLIP_BOUND_MS))'
else
  flip_ms=-1
  fail "dig @127.0.0.5 $MASTER.service.consul answers the new master 127.0.0.6 alone within 15 s of the flip"
fi
show_dig 127.0.0.5 "$MASTER.service.consul"
check "after the flip $REPLICA.service.consul answers the new replica 127.0.0.5 alone" \
  wait_until 10 answers_only 127.0.0.5 "$REPLICA.service.consul" 127.0.0.5
check "after the flip dig at Client2 answers the new master 127.0.0.6 alone" \
  wait_until 10 answers_only 127.0.0.6 "$MASTER.service.consul" 127.0.0.6

# ---------------------------------------------------------------- 6. from foshan
log "---- 6. from foshan (needs cross-datacenter forwarding)"
check "dig @127.0.0.3 $MASTER.service.shenzhen.consul (from foshan) answers the shenzhen master 127.0.0.6" \
  wait_until 10 answers_only 127.0.0.3 "$MASTER.service.shenzhen.consul" 127.0.0.6
show_dig 127.0.0.3 "$MASTER.service.shenzhen.consul"
CATALOG=""
catalog_from_foshan() {
  CATALOG=$(curl -s --max-time 5 -w ' (HTTP %{http_code})' 'http://127.0.0.3:8500/v1/catalog/services?dc=shenzhen')
  [[ $CATALOG == *"\"$MASTER\""* && $CATALOG == *"(HTTP 200)" ]]
}
check "curl http://127.0.0.3:8500/v1/catalog/services?dc=shenzhen lists $MASTER" \
  wait_until 10 catalog_from_foshan
echo "  $CATALOG"

# ---------------------------------------------------------------- 7. kill -9 of the leader
log "---- 7. kill -9 of the shenzhen Raft leader"
peers_ok S1 >/dev/null
LEADER=$(awk 'NR > 1 && $4 == "leader" { print $1 }' <<<"$PEERS")
case $LEADER in
  S1) SURVIVOR=S3 ;;
  S3) SURVIVOR=S1 ;;
  *) fatal "no shenzhen leader in operator raft list-peers: $PEERS" ;;
esac
log "leader $LEADER (pid ${PID[$LEADER]}), survivor $SURVIVOR"
kill -KILL "${PID[$LEADER]}"
wait "${PID[$LEADER]}" 2>/dev/null
t_kill=$(now_ms)
# Two voters: the survivor cannot win an election alone (it needs 2 votes of 2).
check "the survivor $SURVIVOR knows no leader (/v1/status/leader \"\") after the kill" \
  wait_until 15 no_leader "$SURVIVOR"
log "$SURVIVOR has no leader $(secs $(($(now_ms) - t_kill))) s after the kill"
check "during the outage dig @${ADDR[$SURVIVOR]} $MASTER.service.consul still answers 127.0.0.6 (allow_stale)" \
  wait_until 5 answers_only "${ADDR[$SURVIVOR]}" "$MASTER.service.consul" 127.0.0.6
show_dig "${ADDR[$SURVIVOR]}" "$MASTER.service.consul"
check "during the outage dig at Client1 still answers 127.0.0.6 (forwarded ?stale to the survivor)" \
  wait_until 15 answers_only 127.0.0.5 "$MASTER.service.consul" 127.0.0.6
show_dig 127.0.0.5 "$MASTER.service.consul"
stale_read() { http "$SURVIVOR" "/v1/catalog/service/$MASTER?stale" | grep -q '"ServiceAddress": *"127.0.0.6"'; }
check "during the outage GET /v1/catalog/service/$MASTER?stale at $SURVIVOR answers" wait_until 5 stale_read
out=$(curl -s --max-time 10 -w ' (HTTP %{http_code})' -X PUT -d during "http://${ADDR[$SURVIVOR]}:8500/v1/kv/e2e/outage")
echo "  PUT /v1/kv/e2e/outage at $SURVIVOR: $out"
check "during the outage a KV write fails (no quorum)" eval '[[ $out != "true (HTTP 200)" ]]'
out=$(curl -s --max-time 10 -w ' (HTTP %{http_code})' -X PUT -d during "http://127.0.0.5:8500/v1/kv/e2e/outage")
echo "  PUT /v1/kv/e2e/outage at Client1: $out"
check "during the outage a KV write through Client1 fails too" eval '[[ $out != "true (HTTP 200)" ]]'

log "restarting $LEADER on its data_dir"
start_agent "$LEADER"
t_restart=$(now_ms)
wait_http "$LEADER"
both_lead() { has_leader S1 && has_leader S3 && [[ $(leader_of S1) == $(leader_of S3) ]]; }
if wait_until 30 both_lead; then
  pass "after the restart S1 and S3 agree on a leader ($(leader_of S1), $(secs $(($(now_ms) - t_restart))) s after the restart)"
else
  fail "after the restart S1 and S3 agree on a leader within 30 s"
fi
check "after the restart operator raft list-peers shows one leader and one follower" wait_until 10 peers_ok S1
echo "$PEERS" | sed 's/^/  /'
kv_write() { [[ $(curl -s --max-time 5 -X PUT -d after "http://127.0.0.5:8500/v1/kv/e2e/recovered") == true ]]; }
if wait_until 20 kv_write; then
  pass "after the restart a KV write through Client1 succeeds ($(secs $(($(now_ms) - t_restart))) s after the restart, $(secs $(($(now_ms) - t_kill))) s after the kill)"
else
  fail "after the restart a KV write through Client1 succeeds within 20 s"
fi
check "the write reads back from $LEADER with ?consistent" \
  eval '[[ $(http "$LEADER" "/v1/kv/e2e/recovered?raw&consistent") == after ]]'
check "after the restart dig at Client1 answers the master 127.0.0.6 alone" \
  wait_until 10 answers_only 127.0.0.5 "$MASTER.service.consul" 127.0.0.6

# ---------------------------------------------------------------- result
for n in "${!PID[@]}"; do
  pid_alive "${PID[$n]}" || fail "$n (pid ${PID[$n]}) is no longer running at the end"
done
((${#FAILURES[@]})) && dump_logs
[[ $flip_ms -ge 0 ]] && echo "switchover: DNS followed the master flip in $(secs $flip_ms) s (bound $(secs $FLIP_BOUND_MS) s)"
report
