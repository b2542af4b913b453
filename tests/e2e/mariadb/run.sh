#!/usr/bin/env bash
# The seed's MySQL high availability (walkthrough §6) with real MariaDB and praetor, on loopback:
#
#   sudo bash tests/e2e/mariadb/run.sh        # from the repository root
#
#   127.0.0.100:3333  mysqld "db1", master at start     127.0.0.100  praetor client agent Client1
#   127.0.0.101:3333  mysqld "db2", replica at start    127.0.0.101  praetor client agent Client2
#                                                       127.0.0.102  praetor server S1 (bootstrap_expect 1)
#
# Each client agent carries the seed's two services for the mysqld beside it, w-3333-mysql-test
# (tag master-test-3333) and r-3333-mysql-test (tag slave-test-3333), with script checks
# (check_mysql.sh, every CHECK_INTERVAL) deciding the role from @@read_only. Asserted, each step
# with a deadline:
#   1. real replication db1 -> db2 (CHANGE MASTER TO ... START SLAVE, db2 read_only=1);
#   2. the service files are added to the clients' config dirs and `praetor reload` registers
#      them (as the seed does); dig at every agent's DNS port: w-3333-mysql-test.service.consul
#      is 127.0.0.100 alone, r-3333-mysql-test.service.consul 127.0.0.101 alone (NOERROR, aa,
#      TTL 0); a row written through the master found by DNS is read on the replica, and a write
#      through the r- name is refused (read-only);
#   3. switchover: db1 read_only=1, db2 catches up, stops replicating and turns read_only=0, db1
#      replicates from db2. Timed from the switchover's first statement until dig at Client1
#      answers db2 alone for w- and db1 alone for r-; must be <= CHECK_INTERVAL + SLACK (2 s);
#      the time is printed. A row written through the new master found by DNS is read on db1.
#
# Run under ctest: `ctest --test-dir build/debug -R e2e_mariadb --output-on-failure` (label e2e).
# Environment: PRAETOR_BIN (default build/debug/cmd/praetor/praetor), CHECK_INTERVAL (2, seconds),
# SLACK (2, seconds), KEEP=1 keeps the temp dir. As root, mysqld runs as Debian's `mysql` user
# (--user=mysql); otherwise as the caller. Debian's own mariadb service (127.0.0.1:3306, started
# by the package on a host with systemd) is neither used nor touched. Every process this script
# starts is killed by its pid at the end. Exit: 0 passed, 1 failed, 77 skipped (a package is
# missing and we are not root to install it).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../../.." && pwd)
PRAETOR_BIN=${PRAETOR_BIN:-$REPO/build/debug/cmd/praetor/praetor}
CHECK_INTERVAL=${CHECK_INTERVAL:-2}
SLACK=${SLACK:-2}
PORT=3333
W=w-3333-mysql-test
R=r-3333-mysql-test
DBS=(db1 db2)
declare -A DB_ADDR=([db1]=127.0.0.100 [db2]=127.0.0.101)
declare -A DB_NODE=([db1]=Client1 [db2]=Client2)
SERVER_ADDR=127.0.0.102
REPL_PASS=e2e-repl-secret
APP_PASS=e2e-app-secret
CHECK_PASS=e2e-check-secret

declare -A DB_PID=()
PRAETOR_PIDS=()
TMP=""

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---------------------------------------------------------------- dependencies
need_install=()
[[ -x /usr/sbin/mariadbd && -x /usr/bin/mariadb-install-db ]] || need_install+=(mariadb-server)
[[ -x /usr/bin/mariadb && -x /usr/bin/mariadb-admin ]] || need_install+=(mariadb-client)
command -v dig >/dev/null || need_install+=(bind9-dnsutils)
if ((${#need_install[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: missing ${need_install[*]} and not root to install them"; exit 77
  fi
  log "installing ${need_install[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi
[[ -x $PRAETOR_BIN ]] || { echo "FAIL: no praetor binary at $PRAETOR_BIN (build it, or set PRAETOR_BIN)"; exit 1; }
DB_USER=()
if [[ $(id -u) -eq 0 ]]; then
  id mysql >/dev/null 2>&1 || { echo "FAIL: no mysql user (Debian's mariadb-server makes it)"; exit 1; }
  DB_USER=(--user=mysql) # mysqld refuses to run as root unless told --user=root
fi

# ---------------------------------------------------------------- cleanup and failure
dump_logs() {
  [[ -n $TMP && -d $TMP ]] || return 0
  local f
  for f in "$TMP"/praetor-*/agent.log; do
    [[ -f $f ]] && { echo "---- $f (last 60 lines)"; tail -60 "$f"; }
  done
  for f in "$TMP"/db*/error.log; do
    [[ -f $f ]] && { echo "---- $f (last 30 lines)"; tail -30 "$f"; }
  done
  for a in "${DB_ADDR[@]}"; do
    echo "---- checks on the agent at $a"
    curl -s "http://$a:8500/v1/agent/checks" 2>/dev/null || true
    echo
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
  stop_pids "${PRAETOR_PIDS[@]}"
  stop_pids "${DB_PID[@]}"
  wait 2>/dev/null
  if [[ $rc -ne 0 && $FAILED -eq 0 ]]; then echo "FAIL: exited with $rc"; dump_logs; fi
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


TMP=$(mktemp -d /tmp/praetor-mariadb-XXXXXX)
chmod 755 "$TMP"
log "temp dir $TMP; praetor $PRAETOR_BIN; check interval ${CHECK_INTERVAL}s"

# ---------------------------------------------------------------- MariaDB
sql() { # sql <db> <statements>: as root over the instance's unix socket
  mariadb --no-defaults -S "$TMP/$1/mysqld.sock" -u root -N -B -e "$2"
}
as_app() { # as_app <address> <statements>: the application's user over TCP
  mariadb --no-defaults -h "$1" -P "$PORT" -u app -p"$APP_PASS" --connect-timeout=2 -N -B -e "$2"
}

# One mariadb-install-db (about 10 s on a busy machine), copied for the second instance before
# either starts: both begin with the same empty data, so replication starts from the master's
# current binlog position.
mkdir -p "$TMP/db1" "$TMP/db2"
t=$(now_us)
mariadb-install-db --no-defaults "${DB_USER[@]}" --datadir="$TMP/db1/data" \
  --auth-root-authentication-method=normal --skip-test-db >"$TMP/db1/install.log" 2>&1 \
  || { cat "$TMP/db1/install.log"; fail "mariadb-install-db failed"; }
cp -a "$TMP/db1/data" "$TMP/db2/data"
[[ $(id -u) -eq 0 ]] && chown -R mysql: "$TMP/db1" "$TMP/db2"
log "datadirs initialised in $(secs $(($(now_us) - t))) s"

start_db() {
  local db=$1 id=$2 dir=$TMP/$1
  shift 2
  /usr/sbin/mariadbd --no-defaults "${DB_USER[@]}" --datadir="$dir/data" --socket="$dir/mysqld.sock" \
    --pid-file="$dir/mysqld.pid" --bind-address="${DB_ADDR[$db]}" --port=$PORT --server-id="$id" \
    --log-bin="$dir/data/binlog" --relay-log="$dir/data/relay-bin" --skip-name-resolve --log-error="$dir/error.log" \
    --innodb-buffer-pool-size=16M --skip-log-warnings "$@" >"$dir/stdout.log" 2>&1 &
  DB_PID[$db]=$!
  log "started mariadbd $db (pid ${DB_PID[$db]}) on ${DB_ADDR[$db]}:$PORT $*"
}
start_db db1 1
start_db db2 2 --read-only=1
for db in "${DBS[@]}"; do
  wait_for 30 "mariadbd $db to answer on its socket" sql "$db" 'SELECT 1'
  pid_alive "${DB_PID[$db]}" || fail "mariadbd $db exited"
  # Users on each instance separately (not in the binlog): replication, the application (no
  # SUPER/READ_ONLY ADMIN, so read_only applies to it), and the health check (no privileges).
  sql "$db" "SET sql_log_bin = 0;
    CREATE USER repl@'127.%' IDENTIFIED BY '$REPL_PASS'; GRANT REPLICATION SLAVE ON *.* TO repl@'127.%';
    CREATE USER app@'127.%' IDENTIFIED BY '$APP_PASS'; GRANT ALL ON e2e.* TO app@'127.%';
    CREATE USER chk@'127.%' IDENTIFIED BY '$CHECK_PASS';" || fail "creating users on $db"
  cat >"$TMP/$db/check.cnf" <<EOF
[client]
host=${DB_ADDR[$db]}
port=$PORT
user=chk
password=$CHECK_PASS
EOF
  chmod 600 "$TMP/$db/check.cnf"
done

# replicate <replica> <master>: CHANGE MASTER TO the master's current binlog position.
replicate() {
  local file pos
  read -r file pos _ < <(sql "$2" 'SHOW MASTER STATUS') || fail "SHOW MASTER STATUS on $2"
  sql "$1" "CHANGE MASTER TO MASTER_HOST='${DB_ADDR[$2]}', MASTER_PORT=$PORT, MASTER_USER='repl',
      MASTER_PASSWORD='$REPL_PASS', MASTER_LOG_FILE='$file', MASTER_LOG_POS=$pos,
      MASTER_CONNECT_RETRY=1;
    START SLAVE;" || fail "CHANGE MASTER TO on $1"
}
replicating() { # replicating <replica>: both replication threads running
  local st
  st=$(mariadb --no-defaults -S "$TMP/$1/mysqld.sock" -u root -e 'SHOW SLAVE STATUS\G')
  grep -q 'Slave_IO_Running: Yes' <<<"$st" && grep -q 'Slave_SQL_Running: Yes' <<<"$st"
}
sees_row() { [[ $(sql "$1" "SELECT note FROM e2e.t WHERE id = $2" 2>/dev/null) == "$3" ]]; }

replicate db2 db1
wait_for 20 "db2 replicating from db1" replicating db2
sql db1 'CREATE DATABASE e2e; CREATE TABLE e2e.t (id INT PRIMARY KEY, note VARCHAR(64))' \
  || fail "creating the table on db1"
wait_for 20 "the table replicated to db2" sql db2 'SELECT COUNT(*) FROM e2e.t'
log "PASS 1: db1 -> db2 replication running (db2 read_only=$(sql db2 'SELECT @@read_only'))"

# ---------------------------------------------------------------- praetor
start_agent() { # start_agent <name> <config json>
  local dir=$TMP/praetor-$1
  mkdir -p "$dir/config"
  printf '%s\n' "$2" >"$dir/config/agent.json"
  "$PRAETOR_BIN" agent -config-dir="$dir/config" >"$dir/agent.log" 2>&1 &
  PRAETOR_PIDS+=($!)
  log "started praetor $1 (pid $!)"
}
has_leader() { [[ $(curl -sf "http://$1:8500/v1/status/leader") == \"*:*\" ]]; }

start_agent S1 "{\"data_dir\": \"$TMP/praetor-S1/data\", \"datacenter\": \"dc1\", \"log_level\": \"DEBUG\",
 \"server\": true, \"bootstrap_expect\": 1, \"bind_addr\": \"$SERVER_ADDR\", \"client_addr\": \"$SERVER_ADDR\",
 \"node\": \"S1\"}"
wait_for 30 "praetor server S1 to elect itself" has_leader "$SERVER_ADDR"
for db in "${DBS[@]}"; do
  node=${DB_NODE[$db]} a=${DB_ADDR[$db]}
  # The seed's client.json, with enable_local_script_checks (script checks from files only; the
  # seed's enable_script_checks would also take them over HTTP) and the addresses of this host.
  start_agent "$node" "{\"data_dir\": \"$TMP/praetor-$node/data\", \"enable_local_script_checks\": true,
 \"bind_addr\": \"$a\", \"client_addr\": \"$a\", \"retry_join\": [\"$SERVER_ADDR\"], \"retry_interval\": \"1s\",
 \"rejoin_after_leave\": true, \"start_join\": [\"$SERVER_ADDR\"], \"node\": \"$node\", \"datacenter\": \"dc1\",
 \"log_level\": \"DEBUG\"}"
done
for db in "${DBS[@]}"; do
  wait_for 30 "client ${DB_NODE[$db]} to know the leader" has_leader "${DB_ADDR[$db]}"
done
members=$("$PRAETOR_BIN" members -http-addr="http://$SERVER_ADDR:8500")
echo "$members"
for n in S1 Client1 Client2; do
  grep -qE "^$n +[0-9.:]+ +alive" <<<"$members" || fail "$n is not alive in praetor members"
done

# The seed's service files, added to each client's config dir, then `praetor reload`.
for db in "${DBS[@]}"; do
  node=${DB_NODE[$db]} a=${DB_ADDR[$db]}
  for svc in "$W master-test-3333 master" "$R slave-test-3333 slave"; do
    read -r name tag role <<<"$svc"
    cat >"$TMP/praetor-$node/config/$name.json" <<EOF
{"services": [{"name": "$name", "tags": ["$tag"], "address": "$a", "port": $PORT,
  "checks": [{"script": "bash $SCRIPT_DIR/check_mysql.sh $role $TMP/$db/check.cnf $TMP/$db/checks.log",
              "interval": "${CHECK_INTERVAL}s", "timeout": "2s"}]}]}
EOF
  done
  out=$("$PRAETOR_BIN" reload -http-addr="http://$a:8500" 2>&1) || fail "praetor reload on $node: $out"
  [[ $out == *"Configuration reload triggered"* ]] || fail "praetor reload on $node said: $out"
done
log "services registered by praetor reload on Client1 and Client2"

# dns_a <agent address> <name>: the A records dig gets, sorted, space-separated ("" for
# NXDOMAIN); fails when the agent does not answer.
dns_a() {
  local out
  out=$(dig +short +tries=1 +time=1 @"$1" -p 8600 "$2.service.consul" A) || return 1
  grep -E '^[0-9]+(\.[0-9]+){3}$' <<<"$out" | sort | paste -sd' ' || true
}
# dns_pair <agent address>: sets w and r to the A records of the two names (sorted,
# space-separated), from one dig with both questions (a dig costs ~0.1 s on a loaded machine;
# the switchover is timed by polling this).
dns_pair() {
  local out name ttl class type addr
  local -a ws=() rs=()
  out=$(dig +noall +answer +tries=1 +time=1 @"$1" -p 8600 "$W.service.consul" A "$R.service.consul" A) || return 1
  while read -r name ttl class type addr; do
    [[ $type == A ]] || continue
    [[ $name == "$W.service.consul." ]] && ws+=("$addr")
    [[ $name == "$R.service.consul." ]] && rs+=("$addr")
  done <<<"$out"
  sorted_join w "${ws[@]}"
  sorted_join r "${rs[@]}"
}
# sorted_join <var> <words...>: sets <var> to the words sorted, space-separated (no fork: the
# poll above runs back to back).
sorted_join() {
  local -n out=$1
  shift
  local -a a=("$@")
  local i j t
  for ((i = 1; i < ${#a[@]}; i++)); do
    for ((j = i; j > 0; j--)); do
      [[ ${a[j - 1]} > ${a[j]} ]] || break
      t=${a[j]} a[j]=${a[j - 1]} a[j - 1]=$t
    done
  done
  out="${a[*]}"
}
dns_is() { [[ $(dns_a "$1" "$2") == "$3" ]]; }
roles_are() { # roles_are <agent> <master addr> <replica addr>
  dns_is "$1" "$W" "$2" && dns_is "$1" "$R" "$3"
}
AGENTS=("${DB_ADDR[db1]}" "${DB_ADDR[db2]}" "$SERVER_ADDR")
for a in "${AGENTS[@]}"; do
  wait_for 20 "DNS at $a: $W = ${DB_ADDR[db1]}, $R = ${DB_ADDR[db2]}" roles_are "$a" "${DB_ADDR[db1]}" "${DB_ADDR[db2]}"
done
full=$(dig +tries=1 +time=2 @"${DB_ADDR[db1]}" -p 8600 "$W.service.consul" A)
grep -q 'status: NOERROR' <<<"$full" || fail "dig $W: not NOERROR: $full"
grep -qE 'flags: qr aa rd;' <<<"$full" || fail "dig $W: flags not qr aa rd: $full"
grep -qE "^$W\.service\.consul\.[[:space:]]+0[[:space:]]+IN[[:space:]]+A[[:space:]]+${DB_ADDR[db1]}\$" <<<"$full" \
  || fail "dig $W: no single A record with TTL 0: $full"
grep -q 'ANSWER: 1,' <<<"$full" || fail "dig $W: not exactly one answer: $full"
log "DNS at every agent: $W -> ${DB_ADDR[db1]}, $R -> ${DB_ADDR[db2]} (NOERROR, aa, TTL 0)"

master=$(dns_a "${DB_ADDR[db1]}" "$W")
as_app "$master" "INSERT INTO e2e.t VALUES (1, 'through $master')" || fail "writing row 1 through $master"
wait_for 20 "row 1 on db2" sees_row db2 1 "through $master"
replica=$(dns_a "${DB_ADDR[db1]}" "$R")
if out=$(as_app "$replica" "INSERT INTO e2e.t VALUES (99, 'must be refused')" 2>&1); then
  fail "a write through the replica $replica found by DNS was accepted"
fi
[[ $out == *read-only* || $out == *read_only* ]] || fail "write on the replica refused for another reason: $out"
log "PASS 2: row 1 written through the master found by DNS ($master) is on db2; a write through $R ($replica) is refused: ${out##*: }"

# ---------------------------------------------------------------- switchover db1 -> db2
log "switchover: db1 read_only=1, db2 catches up and becomes master, db1 replicates from db2"
t0=$(now_us)
sql db1 'SET GLOBAL read_only = 1' || fail "read_only on db1"
read -r file pos _ < <(sql db1 'SHOW MASTER STATUS')
caught=$(sql db2 "SELECT MASTER_POS_WAIT('$file', $pos, 10)")
[[ $caught =~ ^[0-9]+$ ]] || fail "db2 did not catch up with db1 ($file:$pos): $caught"
sql db2 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0' || fail "promoting db2"
t1=$(now_us)
replicate db1 db2
t2=$(now_us)
log "databases switched in $(secs $((t2 - t0))) s (db2 writable $(secs $((t1 - t0))) s after the start)"

watch_at=${DB_ADDR[db1]}
deadline=$((t0 + (CHECK_INTERVAL + SLACK + 15) * 1000000))
t_w="" t_r="" t_poll=$t0
while :; do
  t_prev_poll=$t_poll t_poll=$(now_us)
  dns_pair "$watch_at" || { w="no answer" r="no answer"; }
  state="DNS $W=[$w] $R=[$r]"
  [[ $state != "${prev_state:-}" ]] && log "  +$(secs $(($(now_us) - t0))) s: $state"
  prev_state=$state
  [[ -z $t_w && $w == "${DB_ADDR[db2]}" ]] && t_w=$(now_us)
  [[ -z $t_r && $r == "${DB_ADDR[db1]}" ]] && t_r=$(now_us)
  if [[ $w == "${DB_ADDR[db2]}" && $r == "${DB_ADDR[db1]}" ]]; then t_done=$(now_us); break; fi
  (($(now_us) < deadline)) || fail "DNS at $watch_at still says $W='$w' $R='$r' $(secs $(($(now_us) - t0))) s after the switchover"
  sleep 0.05
done
SWITCH_S=$(secs $((t_done - t0)))
log "SWITCHOVER: DNS at $watch_at answers $W=${DB_ADDR[db2]} alone after $(secs $((t_w - t0))) s, $R=${DB_ADDR[db1]} alone after $(secs $((t_r - t0))) s ($(secs $((t_done - t1))) s after db2 became writable)"
# When the four checks first gave their new results (each run logs its end time): the rest of
# the time is praetor's, from the agents through the server's catalog to DNS.
first_result() { awk -v t0="$t0" -v role="$2" -v rc="$3" '$1 > t0 && $2 == role && $3 == rc {print $1; exit}' "$1"; }
t_checks=0
for spec in "db2 master 0" "db2 slave 2" "db1 master 2" "db1 slave 0"; do
  read -r host role rc <<<"$spec"
  t=$(first_result "$TMP/$host/checks.log" "$role" "$rc")
  [[ -n $t ]] || fail "no run of $host's $role check gave $rc after the switchover, yet DNS changed"
  ((t > t_checks)) && t_checks=$t
done
CHECKS_S=$(secs $((t_checks - t0)))
PROPAGATION_S=$(secs $((t_done - t_checks)))
log "  the last of the four checks gave its new result at +$CHECKS_S s; from there to DNS: $PROPAGATION_S s (the dig before, sent at +$(secs $((t_prev_poll - t0))) s, still had an old answer)"
(((t_done - t0) <= (CHECK_INTERVAL + SLACK) * 1000000)) \
  || fail "switchover took $SWITCH_S s to reach DNS, more than interval ${CHECK_INTERVAL} s + ${SLACK} s"
for a in "${AGENTS[@]}"; do
  wait_for 3 "DNS at $a: $W = ${DB_ADDR[db2]}, $R = ${DB_ADDR[db1]}" roles_are "$a" "${DB_ADDR[db2]}" "${DB_ADDR[db1]}"
done

wait_for 20 "db1 replicating from db2" replicating db1
master=$(dns_a "${DB_ADDR[db1]}" "$W")
[[ $master == "${DB_ADDR[db2]}" ]] || fail "DNS master is '$master' after the switchover"
as_app "$master" "INSERT INTO e2e.t VALUES (2, 'through $master')" || fail "writing row 2 through $master"
wait_for 20 "row 2 on db1" sees_row db1 2 "through $master"
sees_row db1 1 "through ${DB_ADDR[db1]}" || fail "row 1 missing on db1"
sees_row db2 1 "through ${DB_ADDR[db1]}" || fail "row 1 missing on db2"
log "PASS 3: switchover reached DNS in $SWITCH_S s (bound $((CHECK_INTERVAL + SLACK)) s); row 2 written through the new master $master is on db1"

echo "mariadb e2e: switchover to DNS ${SWITCH_S} s (checks +${CHECKS_S} s, then ${PROPAGATION_S} s to DNS; check interval ${CHECK_INTERVAL} s)"
echo "3 passed, 0 failed"
