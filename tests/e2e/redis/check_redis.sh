#!/usr/bin/env bash
# Health check of the seed's Redis services, for praetor's script checks:
#
#   check_redis.sh master|slave <host> <port> [<log-file>]
#
# Asks the local redis-server `ROLE` (redis-cli -h <host> -p <port> role); the first line of the
# answer is its role, `master` or `slave` (a replica configured with REPLICAOF says `slave` also
# while its link to the master is down, as Redis itself does).
#   - no answer within 1 s (down, refused, hanging): exit 2 (critical);
#   - exit 0 (passing) when the role is the one asked for, exit 2 (critical) otherwise, so DNS
#     names only the instances in that role.
# With <log-file>, each run also appends "<end time in microseconds> <role> <exit code>" to it
# (the e2e test times the runs with it).
role=${1:-}
host=${2:-}
port=${3:-6379}
log=${4:-}
finish() {
  [[ -n $log ]] && echo "${EPOCHREALTIME/./} $role $1" >>"$log"
  exit "$1"
}
if [[ $role != master && $role != slave ]] || [[ -z $host ]]; then
  echo "usage: $0 master|slave <host> <port> [<log-file>]"
  exit 2
fi
# redis-cli (7.0) has no connect timeout of its own; it exits 0 with an error text when the
# server answers with an error, so the first line is checked, not only the exit status.
if ! out=$(timeout 1 redis-cli -h "$host" -p "$port" role 2>&1); then
  echo "redis-server $host:$port does not answer: $out"
  finish 2
fi
is=$(head -1 <<<"$out")
case $is in
  master | slave) ;;
  *) echo "unexpected answer to ROLE from $host:$port: $out"; finish 2 ;;
esac
if [[ $is == "$role" ]]; then
  echo "role $is, as wanted"
  finish 0
fi
echo "role $is, not $role"
finish 2
