#!/bin/sh
# A stand-in for the seed's check_mysql_master.sh: the seed asks the local MySQL on port $1 for
# read_only (OFF on the master); this "MySQL" is the role file mysql-<port>.role next to the
# script, holding `master` or `replica` (the operator's flag table). Exit 0 (passing) when it says
# master, 2 (critical) otherwise, and 2 when the file is missing (the seed: MySQL does not answer).
port=${1:?usage: check_mysql_master.sh PORT}
role=$(cat "$(dirname "$0")/mysql-$port.role" 2>/dev/null) || {
  echo "mysql on port $port does not answer"; exit 2; }
if [ "$role" = master ]; then echo "port $port: read_only=OFF, master"; exit 0; fi
echo "port $port: read_only=ON ($role), not the master"
exit 2
