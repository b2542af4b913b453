#!/usr/bin/env bash
# Health check of the seed's MySQL services (check_mysql_master.sh / check_mysql_slave.sh of the
# walkthrough, §6), for praetor's script checks:
#
#   check_mysql.sh master|slave <defaults-file> [<log-file>]
#
# <defaults-file> is a MariaDB client option file naming the local mysqld ([client] host, port,
# user, password). The script connects to it and reads @@read_only:
#   - no answer (down, refused, timed out, bad credentials): exit 2 (critical);
#   - read_only 0 is a master, 1 a replica: exit 0 (passing) when that is the role asked for,
#     exit 2 (critical) otherwise, so DNS names only the instances in the role.
# The output becomes the check's Output in praetor. With <log-file>, each run also appends
# "<end time in microseconds> <role> <exit code>" to it (the e2e test times the runs with it).
role=${1:-}
defaults=${2:-}
log=${3:-}
finish() {
  [[ -n $log ]] && echo "${EPOCHREALTIME/./} $role $1" >>"$log"
  exit "$1"
}
if [[ $role != master && $role != slave ]] || [[ ! -r $defaults ]]; then
  echo "usage: $0 master|slave <defaults-file> [<log-file>]"
  exit 2
fi
if ! ro=$(mariadb --defaults-file="$defaults" --connect-timeout=1 -N -B -e 'SELECT @@read_only' 2>&1); then
  echo "mysqld does not answer: $ro"
  finish 2
fi
case $ro in
  0) is=master ;;
  1) is=slave ;;
  *) echo "unexpected @@read_only: $ro"; finish 2 ;;
esac
if [[ $is == "$role" ]]; then
  echo "read_only=$ro: $is, as wanted"
  finish 0
fi
echo "read_only=$ro: $is, not $role"
finish 2
