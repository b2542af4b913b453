#!/usr/bin/env bash
# The long simulation sweeps, outside the default test run (README, docs/testing.md): install
# what is missing, build the release preset, then run each sweep and print its verdict lines.
# Every run prints `seed=N trace=<hash> verdict=pass|fail` and replays exactly from its seed.
#
#   scripts/sweep.sh              everything, up to the 10,000-node gossip runs (hours)
#   scripts/sweep.sh --quick      the same sweeps at small sizes (minutes)
#   scripts/sweep.sh --only NAME  one sweep: kv | raft | blocking | sessions | checks | scenarios | gossip-loss |
#                                 gossip-scale | memberlist-scale | steady
#
# `scenarios` sweeps every scenario file in tests/scenarios (10,000 seeds each; 200 with --quick).
#
# Exit status 1 if any run's verdict is fail.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
root=$(praetor_root)

quick=0
only=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: scripts/sweep.sh [--quick] [--only kv|raft|blocking|sessions|checks|scenarios|gossip-loss|gossip-scale|memberlist-scale|steady]" >&2; exit 2 ;;
  esac
done

install_deps
# GNU time, for each run's CPU time and peak RSS (not in a minimal Debian).
if ! [ -x /usr/bin/time ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time
fi
echo "==> building release"
build_preset release praetor-sim raft_cluster_faults_test blocking_sim_test session_sim_test \
  checks_sim_test
sim="$root/build/release/cmd/praetor-sim/praetor-sim"
faults="$root/build/release/tests/cluster/raft_cluster_faults_test"
blocking="$root/build/release/tests/cluster/blocking_sim_test"
sessions="$root/build/release/tests/cluster/session_sim_test"
checks="$root/build/release/tests/cluster/checks_sim_test"

if [ $quick -eq 1 ]; then
  scenario_seeds=200; kv_seeds=50; raft_seeds=300; blocking_seeds=300; session_seeds=300; checks_seeds=300; loss_nodes=(50); loss_minutes=10
  scale_nodes=(100 500); memberlist_nodes=(100 1000); steady_nodes=(100 1000)
else
  scenario_seeds=10000; kv_seeds=1000; raft_seeds=5000; blocking_seeds=10000; session_seeds=10000; checks_seeds=10000; loss_nodes=(50 500); loss_minutes=60
  scale_nodes=(100 1000 2000); memberlist_nodes=(1000 2000 5000 10000)
  steady_nodes=(1000 2000 5000 10000)
fi

status=0
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
run() {
  echo "==> $*"
  local out
  if ! out=$(/usr/bin/time -f "    (%U s CPU, %e s wall, peak RSS %M KB)" "$@" 2>&1); then
    status=1
  fi
  # Everything but the progress lines of the big runs.
  printf '%s\n' "$out" | grep -v '^  t=' || true
  if printf '%s\n' "$out" | grep -q 'verdict=fail'; then status=1; fi
}

want kv && run "$sim" sweep --scenario kv-smoke --seeds "$kv_seeds"
if want raft; then
  echo "==> raft_cluster_faults_test with PRAETOR_SEEDS=$raft_seeds"
  PRAETOR_SEEDS=$raft_seeds "$faults" --gtest_brief=1 || status=1
fi
if want blocking; then
  echo "==> blocking_sim_test with PRAETOR_SEEDS=$blocking_seeds"
  PRAETOR_SEEDS=$blocking_seeds "$blocking" --gtest_brief=1 || status=1
fi
if want sessions; then
  echo "==> session_sim_test with PRAETOR_SEEDS=$session_seeds"
  PRAETOR_SEEDS=$session_seeds "$sessions" --gtest_brief=1 || status=1
fi
if want checks; then
  echo "==> checks_sim_test with PRAETOR_SEEDS=$checks_seeds"
  PRAETOR_SEEDS=$checks_seeds "$checks" --gtest_brief=1 || status=1
fi
if want scenarios; then
  for file in "$root"/tests/scenarios/*.scenario; do
    run "$sim" sweep --scenario "$(basename "$file" .scenario)" --seeds "$scenario_seeds" \
      --scenarios-dir "$root/tests/scenarios"
  done
fi
if want gossip-loss; then
  for n in "${loss_nodes[@]}"; do
    run "$sim" run --scenario gossip-loss --nodes "$n" --minutes "$loss_minutes" --seed 1
  done
fi
if want gossip-scale; then
  for n in "${scale_nodes[@]}"; do run "$sim" run --scenario gossip-scale --nodes "$n" --seed 1; done
fi
if want memberlist-scale; then
  for n in "${memberlist_nodes[@]}"; do
    run "$sim" run --scenario memberlist-scale --nodes "$n" --seed 1
  done
fi
# Warm starts: steady load, detection and a late join at up to 10,000 nodes, both layers.
if want steady; then
  for n in "${steady_nodes[@]}"; do
    run "$sim" run --scenario memberlist-steady --nodes "$n" --seed 1
    run "$sim" run --scenario gossip-steady --nodes "$n" --seed 1
  done
fi
exit $status
