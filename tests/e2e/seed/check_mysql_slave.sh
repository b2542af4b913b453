#!/bin/sh
# A stand-in for the seed's check_mysql_slave.sh: passing (0) when the role file mysql-<port>.role
# next to the script says `replica` (read_only=ON), critical (2) otherwise or when it is missing.
port=${1:?usage: check_mysql_slave.sh PORT}
role=$(cat "$(dirname "$0")/mysql-$port.role" 2>/dev/null) || {
  echo "mysql on port $port does not answer"; exit 2; }
if [ "$role" = replica ]; then echo "port $port: read_only=ON, replica"; exit 0; fi
echo "port $port: read_only=OFF ($role), not a replica"
exit 2
