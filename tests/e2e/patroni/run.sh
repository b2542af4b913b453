#!/usr/bin/env bash
# Patroni + PostgreSQL 15 with praetor as the DCS (issue 11), on loopback only.
#
#   sudo bash tests/e2e/patroni/run.sh            # from the repository root, as root
#
# What it does, asserting each step with a deadline (logs of praetor, Patroni and PostgreSQL are
# printed on any failure):
#   0. installs what is missing from Debian (patroni, postgresql-15, python3-consul, curl) with
#      apt-get; starts three praetor servers (127.0.0.60-62, bootstrap_expect 3, data dirs);
#   1. starts two Patroni nodes (pg1 on 127.0.0.63:5463, REST 8063, talking to praetor .60;
#      pg2 on 127.0.0.64:5464, REST 8064, talking to praetor .61, a follower) at once: one wins
#      the /initialize race and bootstraps; the leader key service/<scope>/leader names it and
#      holds a Session; `patronictl list` shows Leader + Replica; pg_stat_replication shows the
#      replica streaming; a row written on the primary is read on the replica;
#   2. kill -9 of the primary's patroni and of its postmaster and backends; the replica must be
#      promoted within ttl + loop_wait (+ FAILOVER_SLACK for the promotion itself): the leader key
#      names it, `patronictl list` shows it as Leader, it accepts a write and has the old row.
#      The failover time (kill -> new leader accepts writes) is printed;
#   3. restarts the old node's patroni: it must come back as a streaming Replica.
#
# Run under ctest: `ctest --test-dir build/debug -L e2e` (test e2e_patroni).
# Environment: PRAETOR_BIN (default build/debug/cmd/praetor/praetor), PRAETOR_MODE=cluster|dev
# (dev: one `praetor agent -dev` on .60 that both nodes use), TTL (20), LOOP_WAIT (5),
# RETRY_TIMEOUT (5), FAILOVER_SLACK (10), PATRONI_LOG_LEVEL (INFO; DEBUG shows every DCS call),
# KEEP=1 keeps the temp dir. PostgreSQL and Patroni run as the `postgres` user (created by
# Debian's package); every process this script starts is killed by its pid at the end.
# Exit: 0 passed, 1 failed, 77 skipped (not root and something is missing).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../../.." && pwd)
PRAETOR_BIN=${PRAETOR_BIN:-$REPO/build/debug/cmd/praetor/praetor}
PRAETOR_MODE=${PRAETOR_MODE:-cluster}
TTL=${TTL:-20}
LOOP_WAIT=${LOOP_WAIT:-5}
RETRY_TIMEOUT=${RETRY_TIMEOUT:-5}
FAILOVER_SLACK=${FAILOVER_SLACK:-10}
PATRONI_LOG_LEVEL=${PATRONI_LOG_LEVEL:-INFO}
SCOPE=praetor-e2e
PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=postgres
PY=/usr/bin/python3 # Debian's, which has python3-consul (not a pyenv one earlier in PATH)
SU_PASS=e2e-super-secret
REPL_PASS=e2e-repl-secret

PRAETOR_ADDRS=(127.0.0.60 127.0.0.61 127.0.0.62)
NODES=(pg1 pg2)
declare -A NODE_ADDR=([pg1]=127.0.0.63 [pg2]=127.0.0.64)
declare -A NODE_PGPORT=([pg1]=5463 [pg2]=5464)
declare -A NODE_RESTPORT=([pg1]=8063 [pg2]=8064)
declare -A NODE_DCS=([pg1]=127.0.0.60:8500 [pg2]=127.0.0.61:8500)
declare -A PATRONI_PID=()
PRAETOR_PIDS=()
TMP=""

ts() { date +%H:%M:%S.%3N; }
log() { echo "[$(ts)] $*"; }
now() { date +%s.%N; }
elapsed() { $PY -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

# ---------------------------------------------------------------- dependencies
need_install=()
[[ -x /usr/bin/patroni && -x /usr/bin/patronictl ]] || need_install+=(patroni)
[[ -x $PG_BIN/postgres && -x $PG_BIN/initdb ]] || need_install+=(postgresql-15)
[[ -x /usr/bin/psql ]] || need_install+=(postgresql-client-15)
/usr/bin/python3 -c 'import consul' 2>/dev/null || need_install+=(python3-consul)
command -v curl >/dev/null || need_install+=(curl)
command -v setpriv >/dev/null || need_install+=(util-linux)
if ((${#need_install[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: missing ${need_install[*]} and not root to install them"; exit 77
  fi
  log "installing ${need_install[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: must run as root (PostgreSQL runs as the $PG_USER user through setpriv)"; exit 77
fi
id "$PG_USER" >/dev/null 2>&1 || { echo "FAIL: no $PG_USER user (Debian's postgresql-common makes it)"; exit 1; }
[[ -x $PRAETOR_BIN ]] || { echo "FAIL: no praetor binary at $PRAETOR_BIN (build it, or set PRAETOR_BIN)"; exit 1; }

# ---------------------------------------------------------------- cleanup and failure
pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# The postmaster of node $1 (from its postmaster.pid), only when that pid really is a postgres
# process serving that data directory.
postmaster_pid() {
  local data=$TMP/$1/data pid
  [[ -f $data/postmaster.pid ]] || return 1
  pid=$(head -1 "$data/postmaster.pid")
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$data" || return 1
  echo "$pid"
}

# kill -9 a postmaster and its children (backends, walsender/receiver, checkpointer...), by pid.
kill9_postgres() {
  local pm children
  pm=$(postmaster_pid "$1") || return 0
  children=$(ps -o pid= --ppid "$pm" || true)
  kill -9 "$pm" $children 2>/dev/null || true
}

dump_logs() {
  [[ -n $TMP && -d $TMP ]] || return 0
  local f
  for f in "$TMP"/praetor-*/agent.log; do
    [[ -f $f ]] && { echo "---- $f (last 80 lines)"; tail -80 "$f"; }
  done
  for n in "${NODES[@]}"; do
    f=$TMP/$n/patroni.log
    [[ -f $f ]] && { echo "---- $f (last 120 lines)"; tail -120 "$f"; }
    for f in "$TMP/$n"/pglog/*; do
      [[ -f $f ]] && { echo "---- $f (last 40 lines)"; tail -40 "$f"; }
    done
  done
}

FAILED=0
fail() {
  FAILED=1
  echo "FAIL: $*"
  dump_logs
  exit 1
}

cleanup() {
  local rc=$?
  set +e
  for n in "${NODES[@]}"; do
    pid_alive "${PATRONI_PID[$n]:-}" && kill -TERM "${PATRONI_PID[$n]}"
  done
  local deadline=$((SECONDS + 20))
  for n in "${NODES[@]}"; do
    while pid_alive "${PATRONI_PID[$n]:-}" && ((SECONDS < deadline)); do sleep 0.2; done
    pid_alive "${PATRONI_PID[$n]:-}" && kill -9 "${PATRONI_PID[$n]}"
    [[ -n $TMP ]] && kill9_postgres "$n"
  done
  for pid in "${PRAETOR_PIDS[@]}"; do pid_alive "$pid" && kill -TERM "$pid"; done
  sleep 0.5
  for pid in "${PRAETOR_PIDS[@]}"; do pid_alive "$pid" && kill -9 "$pid"; done
  wait 2>/dev/null
  if [[ $rc -ne 0 && $FAILED -eq 0 ]]; then echo "FAIL: exited with $rc"; dump_logs; fi
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for <seconds> <description> <command...>: polls every 0.5 s.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline; deadline=$($PY -c "import time,sys; print(time.time()+float(sys.argv[1]))" "$secs")
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    $PY -c "import time,sys; sys.exit(0 if time.time() < float(sys.argv[1]) else 1)" "$deadline" \
      || fail "timed out after ${secs}s waiting for: $what"
    sleep 0.5
  done
}

# ---------------------------------------------------------------- praetor
TMP=$(mktemp -d /tmp/praetor-patroni-XXXXXX)
chmod 755 "$TMP"
log "temp dir $TMP; praetor $PRAETOR_BIN ($PRAETOR_MODE)"

start_praetor() {
  local i=$1 addr=${PRAETOR_ADDRS[$1]} dir=$TMP/praetor-s$(($1 + 1))
  mkdir -p "$dir"
  if [[ $PRAETOR_MODE == dev ]]; then
    "$PRAETOR_BIN" agent -dev -bind="$addr" -client="$addr" -node=s1 -log-level=DEBUG \
      >"$dir/agent.log" 2>&1 &
  else
    cat >"$dir/agent.json" <<EOF
{"node_name": "s$((i + 1))", "datacenter": "dc1", "server": true, "bootstrap_expect": 3,
 "data_dir": "$dir/data", "bind_addr": "$addr", "client_addr": "$addr",
 "retry_join": ["${PRAETOR_ADDRS[0]}"], "retry_interval": "1s", "log_level": "DEBUG",
 "ports": {"dns": -1}}
EOF
    "$PRAETOR_BIN" agent -config-file="$dir/agent.json" >"$dir/agent.log" 2>&1 &
  fi
  PRAETOR_PIDS+=($!)
}

if [[ $PRAETOR_MODE == dev ]]; then
  start_praetor 0
  for n in "${NODES[@]}"; do NODE_DCS[$n]=${PRAETOR_ADDRS[0]}:8500; done
  PRAETOR_CHECK=(${PRAETOR_ADDRS[0]})
else
  for i in 0 1 2; do start_praetor $i; done
  PRAETOR_CHECK=("${PRAETOR_ADDRS[@]}")
fi
P=http://${PRAETOR_ADDRS[0]}:8500

has_leader() { [[ $(curl -sf "http://$1:8500/v1/status/leader") == \"*:*\" ]]; }
for a in "${PRAETOR_CHECK[@]}"; do wait_for 30 "praetor on $a to know a raft leader" has_leader "$a"; done
log "praetor up: leader $(curl -sf $P/v1/status/leader), peers $(curl -sf $P/v1/status/peers)"

# ---------------------------------------------------------------- patroni nodes
write_config() {
  local n=$1 dir=$TMP/$1
  mkdir -p "$dir/pglog" "$dir/sock"
  cat >"$dir/patroni.yml" <<EOF
scope: $SCOPE
namespace: /service/
name: $n
log:
  level: $PATRONI_LOG_LEVEL
watchdog:
  mode: 'off'
restapi:
  listen: ${NODE_ADDR[$n]}:${NODE_RESTPORT[$n]}
  connect_address: ${NODE_ADDR[$n]}:${NODE_RESTPORT[$n]}
consul:
  host: ${NODE_DCS[$n]}
  register_service: false
  checks: []
bootstrap:
  dcs:
    ttl: $TTL
    loop_wait: $LOOP_WAIT
    retry_timeout: $RETRY_TIMEOUT
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 30
        max_wal_senders: 5
        max_replication_slots: 5
        wal_keep_size: 64MB
        hot_standby: 'on'
  initdb:
    - encoding: UTF8
    - data-checksums
    - auth-local: trust
postgresql:
  listen: ${NODE_ADDR[$n]}:${NODE_PGPORT[$n]}
  connect_address: ${NODE_ADDR[$n]}:${NODE_PGPORT[$n]}
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser:
      username: postgres
      password: $SU_PASS
    replication:
      username: replicator
      password: $REPL_PASS
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.0/8 scram-sha-256
    - host all all 127.0.0.0/8 scram-sha-256
  parameters:
    unix_socket_directories: '$dir/sock'
    shared_buffers: 16MB
    logging_collector: 'on'
    log_directory: '$dir/pglog'
    log_filename: 'postgresql.log'
    log_min_messages: info
EOF
  chown -R "$PG_USER:" "$dir"
  chmod 700 "$dir"
}

start_patroni() {
  local n=$1 dir=$TMP/$1
  # setpriv and env exec (no fork), so $! is patroni's own pid; started from a subshell so that
  # it is no job of this shell (no "Killed" notice after its kill -9).
  PATRONI_PID[$n]=$(setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups \
    env HOME="$dir" PGPASSFILE="$dir/pgpass" patroni "$dir/patroni.yml" >>"$dir/patroni.log" 2>&1 &
    echo $!)
  log "started patroni $n (pid ${PATRONI_PID[$n]}) on ${NODE_ADDR[$n]}:${NODE_PGPORT[$n]}, DCS ${NODE_DCS[$n]}"
}

ctl_list() { patronictl -c "$TMP/pg1/patroni.yml" list -f json 2>/dev/null; }
# role_of <member>: its Role and State in `patronictl list`, e.g. "Leader running".
role_of() {
  ctl_list | $PY -c '
import json, sys
for m in json.load(sys.stdin):
    if m.get("Member") == sys.argv[1]:
        print(m.get("Role", ""), m.get("State", ""))' "$1"
}
is_role() { local r; r=$(role_of "$1"); [[ $r == "$2 "* && ( $r == *running || $r == *streaming ) ]]; }

# leader_key: "<name> <session>" from GET /v1/kv/service/<scope>/leader (any praetor server).
leader_key() {
  curl -sf "http://${1:-${PRAETOR_ADDRS[0]}}:8500/v1/kv/service/$SCOPE/leader" | $PY -c '
import base64, json, sys
e = json.load(sys.stdin)[0]
print(base64.b64decode(e["Value"] or "").decode(), e.get("Session") or "-")'
}
leader_is() { local k; k=$(leader_key) && [[ $k == "$1 "* && $k != *" -" ]]; }

psql_on() { # psql_on <node> <sql>
  PGPASSWORD=$SU_PASS PGCONNECT_TIMEOUT=2 psql -X -q -At -v ON_ERROR_STOP=1 \
    -h "${NODE_ADDR[$1]}" -p "${NODE_PGPORT[$1]}" -U postgres -d postgres -c "$2"
}
sees_row() { [[ $(psql_on "$1" "SELECT note FROM e2e WHERE id = $2") == "$3" ]]; }
streams_to() { # streams_to <primary> <replica>
  [[ $(psql_on "$1" "SELECT state FROM pg_stat_replication WHERE application_name = '$2'") == streaming ]]
}
accepts_write() { psql_on "$1" "INSERT INTO e2e VALUES ($2, '$3')"; }

for n in "${NODES[@]}"; do write_config "$n"; done
for n in "${NODES[@]}"; do start_patroni "$n"; done

# ---- 1. bootstrap
t_boot=$(now)
has_some_leader() { leader_key | grep -qE '^pg[0-9]+ [0-9a-f-]{36}$'; }
wait_for 90 "a leader key with a session" has_some_leader
read -r PRIMARY SESSION < <(leader_key)
for n in "${NODES[@]}"; do [[ $n != "$PRIMARY" ]] && REPLICA=$n; done
log "leader key names $PRIMARY, session $SESSION ($(elapsed "$t_boot" "$(now)") s after start)"
curl -sf "$P/v1/session/info/$SESSION" | $PY -c '
import json, sys
s = json.load(sys.stdin)[0]
print("  session: Name=%s TTL=%s Behavior=%s LockDelay=%s Checks=%s" % (
    s["Name"], s["TTL"], s["Behavior"], s["LockDelay"], s.get("Checks")))'
for a in "${PRAETOR_CHECK[@]}"; do
  k=$(leader_key "$a") || fail "leader key not readable on praetor $a"
  [[ $k == "$PRIMARY $SESSION" ]] || fail "praetor $a names '$k' as leader, expected '$PRIMARY $SESSION'"
done

wait_for 60 "patronictl list: $PRIMARY Leader" is_role "$PRIMARY" Leader
wait_for 90 "patronictl list: $REPLICA Replica" is_role "$REPLICA" Replica
wait_for 60 "pg_stat_replication on $PRIMARY: $REPLICA streaming" streams_to "$PRIMARY" "$REPLICA"
patronictl -c "$TMP/pg1/patroni.yml" list
psql_on "$PRIMARY" "CREATE TABLE e2e (id int PRIMARY KEY, note text); INSERT INTO e2e VALUES (1, 'before failover')" \
  || fail "could not write on the primary $PRIMARY"
wait_for 30 "row 1 on the replica $REPLICA" sees_row "$REPLICA" 1 'before failover'
[[ $(psql_on "$REPLICA" "SELECT pg_is_in_recovery()") == t ]] || fail "$REPLICA is not in recovery"
log "PASS 1: $PRIMARY leads (leader key + session), $REPLICA streams, row 1 replicated"

# The replica's HA loop runs once per loop_wait, sleeping in a blocking read of the leader key
# (?index=<its ModifyIndex>). When praetor answered that read with the KV table's index instead,
# it returned at once and the loop spun (thousands of cycles a minute): count its cycles.
cycles() { grep -c "no action. I am ($REPLICA), a secondary" "$TMP/$REPLICA/patroni.log" || true; }
c0=$(cycles)
sleep $((2 * LOOP_WAIT))
c1=$(cycles)
log "the replica's HA loop ran $((c1 - c0)) times in $((2 * LOOP_WAIT)) s (loop_wait $LOOP_WAIT)"
(((c1 - c0) <= 5)) || fail "the replica's HA loop ran $((c1 - c0)) times in $((2 * LOOP_WAIT)) s: its watch of the leader key does not block"

# ---- 2. kill -9 the primary
old_patroni=${PATRONI_PID[$PRIMARY]}
old_pm=$(postmaster_pid "$PRIMARY") || fail "no postmaster found for $PRIMARY"
log "kill -9 patroni $old_patroni and postmaster $old_pm (+ its children) of $PRIMARY"
t_kill=$(now)
kill -9 "$old_patroni"
kill9_postgres "$PRIMARY"
wait_for 5 "patroni $old_patroni to be gone" eval '! kill -0 '"$old_patroni"
PATRONI_PID[$PRIMARY]=""

budget=$((TTL + LOOP_WAIT + FAILOVER_SLACK))
t_key=""
deadline=$($PY -c "import time; print(time.time() + $budget + 20)")
while :; do
  if [[ -z $t_key ]] && leader_is "$REPLICA"; then t_key=$(now); log "leader key names $REPLICA"; fi
  if [[ -n $t_key ]] && accepts_write "$REPLICA" 2 'after failover' >/dev/null 2>&1; then
    t_write=$(now); break
  fi
  $PY -c "import time; import sys; sys.exit(0 if time.time() < $deadline else 1)" \
    || fail "no failover to $REPLICA within $((budget + 20)) s of the kill (leader key: $(leader_key || echo none))"
  sleep 0.2
done
key_s=$(elapsed "$t_kill" "$t_key")
failover_s=$(elapsed "$t_kill" "$t_write")
log "FAILOVER: leader key names $REPLICA after ${key_s} s; it accepts writes after ${failover_s} s (ttl $TTL + loop_wait $LOOP_WAIT = $((TTL + LOOP_WAIT)) s)"
$PY -c "import sys; sys.exit(0 if float('$failover_s') <= $budget else 1)" \
  || fail "failover took ${failover_s} s, more than ttl + loop_wait + slack = $budget s"
read -r _ NEW_SESSION < <(leader_key)
[[ $NEW_SESSION != "$SESSION" && $NEW_SESSION != - ]] || fail "new leader key holds session '$NEW_SESSION'"
wait_for 30 "patronictl list: $REPLICA Leader" is_role "$REPLICA" Leader
sees_row "$REPLICA" 1 'before failover' || fail "row 1 lost on the new primary $REPLICA"
sees_row "$REPLICA" 2 'after failover' || fail "row 2 not on the new primary $REPLICA"
[[ $(psql_on "$REPLICA" "SELECT pg_is_in_recovery()") == f ]] || fail "$REPLICA still in recovery"
patronictl -c "$TMP/pg1/patroni.yml" list
log "PASS 2: $REPLICA promoted in ${failover_s} s (leader key after ${key_s} s), rows 1 and 2 there"

# ---- 3. the old primary rejoins
t_rejoin=$(now)
start_patroni "$PRIMARY"
wait_for 120 "patronictl list: $PRIMARY back as Replica" is_role "$PRIMARY" Replica
wait_for 60 "pg_stat_replication on $REPLICA: $PRIMARY streaming" streams_to "$REPLICA" "$PRIMARY"
wait_for 30 "row 2 on the rejoined $PRIMARY" sees_row "$PRIMARY" 2 'after failover'
leader_is "$REPLICA" || fail "leader key moved away from $REPLICA during the rejoin"
patronictl -c "$TMP/pg1/patroni.yml" list
how="no rewind needed"
grep -q 'running pg_rewind from' "$TMP/$PRIMARY/patroni.log" && how="pg_rewind"
grep -qiE 'reinitializ|removing data directory' "$TMP/$PRIMARY/patroni.log" && how="$how, reinitialized"
log "PASS 3: $PRIMARY rejoined as a streaming replica in $(elapsed "$t_rejoin" "$(now)") s ($how)"

echo "patroni e2e: failover ${failover_s} s (leader key ${key_s} s), ttl $TTL, loop_wait $LOOP_WAIT"
echo "3 passed, 0 failed"
