// The server configuration the simulator's fault tests share: server n of `servers` (s1, s2, ...
// on 127.0.0.2, .3, ...), bootstrap_expect, a data_dir on the simulated disk, the fastest Raft
// timing, invariants checked after every input, and snapshots every 40 entries so that
// compaction and InstallSnapshot happen in every run.
#pragma once

#include <fmt/format.h>

#include "core/node/config.hpp"

namespace praetor::testing {

inline node::AgentConfig sim_server_config(int n, int servers) {
  node::AgentConfig c;
  c.node_name = fmt::format("s{}", n);
  c.server = true;
  c.bootstrap_expect = servers;
  c.data_dir = "/data";
  c.bind_addr = fmt::format("127.0.0.{}", n + 1);
  c.raft_multiplier = 1;
  c.check_invariants_each_input = true;
  c.raft_snapshot_threshold = 40;
  for (int other = 1; other <= servers; ++other) {
    if (other != n) c.retry_join.push_back(fmt::format("127.0.0.{}", other + 1));
  }
  return c;
}

}  // namespace praetor::testing
