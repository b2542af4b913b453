# Shared by the e2e scripts that run real databases beside praetor agents (mariadb/run.sh,
# redis/run.sh): timestamps, process handling by pid, and polling with a deadline. Source it after
# defining `fail` (wait_for calls it when time runs out). Bash only.

ts() { date +%H:%M:%S.%3N; }
log() { echo "[$(ts)] $*"; }
now_us() { echo "${EPOCHREALTIME/./}"; }
secs() { printf '%d.%03d' $(($1 / 1000000)) $((($1 % 1000000) / 1000)); } # microseconds -> s.mmm

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# stop_pids <pid...>: TERM, up to 15 s for them to exit, then KILL; only the given pids.
stop_pids() {
  local pid deadline=$((SECONDS + 15))
  for pid in "$@"; do pid_alive "$pid" && kill -TERM "$pid"; done
  for pid in "$@"; do
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    pid_alive "$pid" && kill -KILL "$pid"
  done
  return 0
}

# wait_for <seconds> <description> <command...>: polls every 0.2 s; `fail`s when time runs out.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$(($(now_us) + secs * 1000000))
  until "$@" >/dev/null 2>&1; do
    (($(now_us) < deadline)) || fail "timed out after ${secs}s waiting for: $what"
    sleep 0.2
  done
}
