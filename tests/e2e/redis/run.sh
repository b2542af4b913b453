#!/usr/bin/env bash
# The seed's Redis high availability with real redis-server and praetor, on loopback:
#
#   sudo bash tests/e2e/redis/run.sh          # from the repository root
#
#   127.0.0.110:6379  redis-server "rd1", master at start    127.0.0.110  praetor client agent Client1
#   127.0.0.111:6379  redis-server "rd2", replicaof rd1      127.0.0.111  praetor client agent Client2
#                                                            127.0.0.112  praetor server S1 (bootstrap_expect 1)
#
# Each client agent carries two services for the redis-server beside it, w-6379-redis-test (tag
# master-test-6379) and r-6379-redis-test (tag slave-test-6379), with script checks ("args" form;
# check_redis.sh, every CHECK_INTERVAL) deciding the role from the first line of
# `redis-cli -h <addr> role`. Asserted, each step with a deadline:
#   1. rd2 replicates rd1 (master_link_status:up);
#   2. the service files are added to the clients' config dirs and `praetor reload` registers
#      them; dig at every agent's DNS port: w-6379-redis-test.service.consul is 127.0.0.110 alone,
#      r-6379-redis-test.service.consul 127.0.0.111 alone (NOERROR, aa, TTL 0); a SET through the
#      master found by DNS is read on the replica, and a SET through the r- name is refused
#      (READONLY);
#   3. switchover: `REPLICAOF NO ONE` on rd2, `REPLICAOF 127.0.0.111 6379` on rd1. Timed from the
#      first command until dig at Client1 answers rd2 alone for w- and rd1 alone for r-; must be
#      <= CHECK_INTERVAL + SLACK (2 s); the time is printed. A SET through the new master found by
#      DNS is read on rd1.
#
# Run under ctest: `ctest --test-dir build/debug -R e2e_redis --output-on-failure` (label e2e).
# Environment: PRAETOR_BIN (default build/debug/cmd/praetor/praetor), CHECK_INTERVAL (2, seconds),
# SLACK (2, seconds), KEEP=1 keeps the temp dir. As root, redis-server runs as Debian's `redis`
# user (setpriv); otherwise as the caller. Debian's own redis-server service (127.0.0.1:6379,
# started by the package on a host with systemd) is neither used nor touched: ours listen on
# 127.0.0.110/.111 only. Every process this script starts is killed by its pid at the end.
# Exit: 0 passed, 1 failed, 77 skipped (a package is missing and we are not root to install it).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../../.." && pwd)
PRAETOR_BIN=${PRAETOR_BIN:-$REPO/build/debug/cmd/praetor/praetor}
CHECK_INTERVAL=${CHECK_INTERVAL:-2}
SLACK=${SLACK:-2}
PORT=6379
W=w-6379-redis-test
R=r-6379-redis-test
RDS=(rd1 rd2)
declare -A RD_ADDR=([rd1]=127.0.0.110 [rd2]=127.0.0.111)
declare -A RD_NODE=([rd1]=Client1 [rd2]=Client2)
SERVER_ADDR=127.0.0.112

declare -A RD_PID=()
PRAETOR_PIDS=()
TMP=""

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---------------------------------------------------------------- dependencies
need_install=()
command -v redis-server >/dev/null || need_install+=(redis-server)
command -v redis-cli >/dev/null || need_install+=(redis-tools)
command -v dig >/dev/null || need_install+=(bind9-dnsutils)
command -v setpriv >/dev/null || need_install+=(util-linux)
if ((${#need_install[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: missing ${need_install[*]} and not root to install them"; exit 77
  fi
  log "installing ${need_install[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_install[@]}" >/dev/null
fi
[[ -x $PRAETOR_BIN ]] || { echo "FAIL: no praetor binary at $PRAETOR_BIN (build it, or set PRAETOR_BIN)"; exit 1; }
AS_USER=()
if [[ $(id -u) -eq 0 ]]; then
  id redis >/dev/null 2>&1 || { echo "FAIL: no redis user (Debian's redis-server makes it)"; exit 1; }
  AS_USER=(setpriv --reuid=redis --regid=redis --init-groups)
fi

# ---------------------------------------------------------------- cleanup and failure
dump_logs() {
  [[ -n $TMP && -d $TMP ]] || return 0
  local f
  for f in "$TMP"/praetor-*/agent.log; do
    [[ -f $f ]] && { echo "---- $f (last 60 lines)"; tail -60 "$f"; }
  done
  for f in "$TMP"/rd*/redis.log; do
    [[ -f $f ]] && { echo "---- $f (last 30 lines)"; tail -30 "$f"; }
  done
  for a in "${RD_ADDR[@]}"; do
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
  stop_pids "${RD_PID[@]}"
  wait 2>/dev/null
  if [[ $rc -ne 0 && $FAILED -eq 0 ]]; then echo "FAIL: exited with $rc"; dump_logs; fi
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


TMP=$(mktemp -d /tmp/praetor-redis-XXXXXX)
chmod 755 "$TMP"
log "temp dir $TMP; praetor $PRAETOR_BIN; check interval ${CHECK_INTERVAL}s"

# ---------------------------------------------------------------- Redis
rcli() { # rcli <address> <command...>: output of redis-cli, failing when it cannot connect
  timeout 5 redis-cli -h "$1" -p "$PORT" "${@:2}"
}
start_redis() {
  local rd=$1 dir=$TMP/$1
  shift
  mkdir -p "$dir"
  [[ ${#AS_USER[@]} -gt 0 ]] && chown redis: "$dir"
  # setpriv execs (no fork), so $! is redis-server's own pid. No persistence: a replica's full
  # sync goes over the socket (repl-diskless-sync, Redis 7's default), at once (the default
  # waits 5 s for more replicas to share the transfer).
  "${AS_USER[@]}" redis-server --bind "${RD_ADDR[$rd]}" --port $PORT --dir "$dir" \
    --logfile "$dir/redis.log" --daemonize no --save '' --appendonly no \
    --repl-diskless-sync-delay 0 "$@" >"$dir/stdout.log" 2>&1 &
  RD_PID[$rd]=$!
  log "started redis-server $rd (pid ${RD_PID[$rd]}) on ${RD_ADDR[$rd]}:$PORT $*"
}
role_of() { rcli "$1" role | head -1; }
link_up() { rcli "$1" info replication | grep -q '^master_link_status:up'; }
sees_key() { [[ $(rcli "$1" get "$2") == "$3" ]]; }

start_redis rd1
start_redis rd2 --replicaof "${RD_ADDR[rd1]}" $PORT
for rd in "${RDS[@]}"; do
  wait_for 20 "redis-server $rd to answer" rcli "${RD_ADDR[$rd]}" ping
  pid_alive "${RD_PID[$rd]}" || fail "redis-server $rd exited"
done
wait_for 20 "rd2 replicating from rd1 (master_link_status:up)" link_up "${RD_ADDR[rd2]}"
[[ $(role_of "${RD_ADDR[rd1]}") == master && $(role_of "${RD_ADDR[rd2]}") == slave ]] \
  || fail "roles at start: rd1 $(role_of "${RD_ADDR[rd1]}"), rd2 $(role_of "${RD_ADDR[rd2]}")"
log "PASS 1: rd1 -> rd2 replication up"

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
for rd in "${RDS[@]}"; do
  node=${RD_NODE[$rd]} a=${RD_ADDR[$rd]}
  start_agent "$node" "{\"data_dir\": \"$TMP/praetor-$node/data\", \"enable_local_script_checks\": true,
 \"bind_addr\": \"$a\", \"client_addr\": \"$a\", \"retry_join\": [\"$SERVER_ADDR\"], \"retry_interval\": \"1s\",
 \"rejoin_after_leave\": true, \"start_join\": [\"$SERVER_ADDR\"], \"node\": \"$node\", \"datacenter\": \"dc1\",
 \"log_level\": \"DEBUG\"}"
done
for rd in "${RDS[@]}"; do
  wait_for 30 "client ${RD_NODE[$rd]} to know the leader" has_leader "${RD_ADDR[$rd]}"
done
members=$("$PRAETOR_BIN" members -http-addr="http://$SERVER_ADDR:8500")
echo "$members"
for n in S1 Client1 Client2; do
  grep -qE "^$n +[0-9.:]+ +alive" <<<"$members" || fail "$n is not alive in praetor members"
done

for rd in "${RDS[@]}"; do
  node=${RD_NODE[$rd]} a=${RD_ADDR[$rd]}
  for svc in "$W master-test-6379 master" "$R slave-test-6379 slave"; do
    read -r name tag role <<<"$svc"
    cat >"$TMP/praetor-$node/config/$name.json" <<EOF
{"services": [{"name": "$name", "tags": ["$tag"], "address": "$a", "port": $PORT,
  "checks": [{"args": ["bash", "$SCRIPT_DIR/check_redis.sh", "$role", "$a", "$PORT", "$TMP/$rd/checks.log"],
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
roles_are() { dns_is "$1" "$W" "$2" && dns_is "$1" "$R" "$3"; }
AGENTS=("${RD_ADDR[rd1]}" "${RD_ADDR[rd2]}" "$SERVER_ADDR")
for a in "${AGENTS[@]}"; do
  wait_for 20 "DNS at $a: $W = ${RD_ADDR[rd1]}, $R = ${RD_ADDR[rd2]}" roles_are "$a" "${RD_ADDR[rd1]}" "${RD_ADDR[rd2]}"
done
full=$(dig +tries=1 +time=2 @"${RD_ADDR[rd1]}" -p 8600 "$W.service.consul" A)
grep -q 'status: NOERROR' <<<"$full" || fail "dig $W: not NOERROR: $full"
grep -qE 'flags: qr aa rd;' <<<"$full" || fail "dig $W: flags not qr aa rd: $full"
grep -qE "^$W\.service\.consul\.[[:space:]]+0[[:space:]]+IN[[:space:]]+A[[:space:]]+${RD_ADDR[rd1]}\$" <<<"$full" \
  || fail "dig $W: no A record with TTL 0: $full"
grep -q 'ANSWER: 1,' <<<"$full" || fail "dig $W: not exactly one answer: $full"
log "DNS at every agent: $W -> ${RD_ADDR[rd1]}, $R -> ${RD_ADDR[rd2]} (NOERROR, aa, TTL 0)"

master=$(dns_a "${RD_ADDR[rd1]}" "$W")
[[ $(rcli "$master" set e2e:k1 "through $master") == OK ]] || fail "SET k1 through $master"
wait_for 20 "k1 on rd2" sees_key "${RD_ADDR[rd2]}" e2e:k1 "through $master"
replica=$(dns_a "${RD_ADDR[rd1]}" "$R")
out=$(rcli "$replica" set e2e:k99 must-be-refused 2>&1 || true)
[[ $out == READONLY* ]] || fail "a SET through the replica $replica found by DNS was not refused: $out"
log "PASS 2: k1 set through the master found by DNS ($master) is on rd2; a SET through $R ($replica) is refused: $out"

# ---------------------------------------------------------------- switchover rd1 -> rd2
[[ $(rcli "${RD_ADDR[rd1]}" wait 1 5000) == 1 ]] || fail "rd2 did not acknowledge rd1's writes"
log "switchover: REPLICAOF NO ONE on rd2, REPLICAOF ${RD_ADDR[rd2]} $PORT on rd1"
t0=$(now_us)
[[ $(rcli "${RD_ADDR[rd2]}" replicaof no one) == OK ]] || fail "REPLICAOF NO ONE on rd2"
t1=$(now_us)
[[ $(rcli "${RD_ADDR[rd1]}" replicaof "${RD_ADDR[rd2]}" $PORT) == OK* ]] || fail "REPLICAOF on rd1"
t2=$(now_us)
log "redis switched in $(secs $((t2 - t0))) s"

watch_at=${RD_ADDR[rd1]}
deadline=$((t0 + (CHECK_INTERVAL + SLACK + 15) * 1000000))
t_w="" t_r="" t_poll=$t0
while :; do
  t_prev_poll=$t_poll t_poll=$(now_us)
  dns_pair "$watch_at" || { w="no answer" r="no answer"; }
  state="DNS $W=[$w] $R=[$r]"
  [[ $state != "${prev_state:-}" ]] && log "  +$(secs $(($(now_us) - t0))) s: $state"
  prev_state=$state
  [[ -z $t_w && $w == "${RD_ADDR[rd2]}" ]] && t_w=$(now_us)
  [[ -z $t_r && $r == "${RD_ADDR[rd1]}" ]] && t_r=$(now_us)
  if [[ $w == "${RD_ADDR[rd2]}" && $r == "${RD_ADDR[rd1]}" ]]; then t_done=$(now_us); break; fi
  (($(now_us) < deadline)) || fail "DNS at $watch_at still says $W='$w' $R='$r' $(secs $(($(now_us) - t0))) s after the switchover"
  sleep 0.05
done
SWITCH_S=$(secs $((t_done - t0)))
log "SWITCHOVER: DNS at $watch_at answers $W=${RD_ADDR[rd2]} alone after $(secs $((t_w - t0))) s, $R=${RD_ADDR[rd1]} alone after $(secs $((t_r - t0))) s"
# When the four checks first gave their new results (each run logs its end time): the rest of
# the time is praetor's, from the agents through the server's catalog to DNS.
first_result() { awk -v t0="$t0" -v role="$2" -v rc="$3" '$1 > t0 && $2 == role && $3 == rc {print $1; exit}' "$1"; }
t_checks=0
for spec in "rd2 master 0" "rd2 slave 2" "rd1 master 2" "rd1 slave 0"; do
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
  wait_for 3 "DNS at $a: $W = ${RD_ADDR[rd2]}, $R = ${RD_ADDR[rd1]}" roles_are "$a" "${RD_ADDR[rd2]}" "${RD_ADDR[rd1]}"
done

wait_for 20 "rd1 replicating from rd2 (master_link_status:up)" link_up "${RD_ADDR[rd1]}"
master=$(dns_a "${RD_ADDR[rd1]}" "$W")
[[ $master == "${RD_ADDR[rd2]}" ]] || fail "DNS master is '$master' after the switchover"
[[ $(rcli "$master" set e2e:k2 "through $master") == OK ]] || fail "SET k2 through $master"
wait_for 20 "k2 on rd1" sees_key "${RD_ADDR[rd1]}" e2e:k2 "through $master"
sees_key "${RD_ADDR[rd1]}" e2e:k1 "through ${RD_ADDR[rd1]}" || fail "k1 missing on rd1"
log "PASS 3: switchover reached DNS in $SWITCH_S s (bound $((CHECK_INTERVAL + SLACK)) s); k2 set through the new master $master is on rd1"

echo "redis e2e: switchover to DNS ${SWITCH_S} s (checks +${CHECKS_S} s, then ${PROPAGATION_S} s to DNS; check interval ${CHECK_INTERVAL} s)"
echo "3 passed, 0 failed"
