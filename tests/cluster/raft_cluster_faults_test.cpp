// Three (or five) servers under a swarm of faults drawn from the seed (loss, duplication, reordering,
// partitions of every shape, clogs, crashes that lose unsynced writes, clock skew), a concurrent
// KV workload through every server, then:
//   safety   - at most one leader per term, observed after every event; the client history is
//              linearizable (so no acknowledged write was lost or reordered);
//   liveness - once the faults heal, a leader and a committed write within 10 election timeouts;
//   convergence - every server then holds the same catalog.
// A failure prints the seed and its fault plan; PRAETOR_SEED=N runs just that seed, and
// PRAETOR_TRACE=1 echoes the simulator trace.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "core/node/agent.hpp"
#include "sim/faults.hpp"
#include "sim/workload.hpp"
#include "sim/world.hpp"
#include "tests/support/sim_servers.hpp"

namespace praetor {
namespace {

using node::Agent;

node::AgentConfig server_config(int n, int servers) {
  return testing::sim_server_config(n, servers);
}

struct Outcome {
  std::string failure;  // empty when the seed passed
  std::string plan;
  std::uint64_t trace_hash = 0;
};

Outcome run_seed(std::uint64_t seed) {
  Outcome out;
  sim::World world(seed);
  if (std::getenv("PRAETOR_TRACE") != nullptr) world.trace().set_echo(stderr);
  // Every fourth seed runs five servers, the rest three.
  const int servers = seed % 4 == 0 ? 5 : 3;
  std::vector<std::string> names;
  for (int n = 1; n <= servers; ++n) {
    sim::NodeOptions options;
    options.name = fmt::format("s{}", n);
    options.addresses = {fmt::format("127.0.0.{}", n + 1)};
    names.push_back(options.name);
    world.add_process(options,
                      [n, servers] { return std::make_unique<Agent>(server_config(n, servers)); });
  }
  Rng rng(seed ^ 0x5eed5eed5eedULL);
  Rng plan_rng = rng.fork();
  sim::FaultProfile profile;
  const sim::FaultPlan plan = sim::plan_faults(plan_rng, profile);
  out.plan = plan.describe();
  const Instant heal_at = Instant::zero() + Duration::seconds(20);
  sim::install_faults(world, plan, rng.fork(), Instant::zero() + Duration::seconds(1), heal_at);

  sim::KvWorkloadOptions wo;
  wo.targets = names;
  wo.clients = 4;
  wo.keys = 6;
  wo.operations = 150;
  wo.think_max = Duration::milliseconds(150);
  sim::KvWorkload workload(world, wo, rng.fork());
  // Clients start once a first leader is elected: a request before that only learns "No cluster
  // leader", which tells the checker nothing.
  world.run_until(
      [&] {
        for (const auto& name : names) {
          Agent* a = world.process_as<Agent>(name);
          if (a != nullptr && a->raft_role() == raft::Role::kLeader) return true;
        }
        return false;
      },
      Instant::zero() + Duration::seconds(10));
  workload.start();

  // Safety, checked after every event: one leader per term.
  std::map<std::uint64_t, std::string> leader_of_term;
  auto check_leaders = [&]() -> bool {
    for (const auto& name : names) {
      Agent* a = world.process_as<Agent>(name);
      if (a == nullptr || a->raft_role() != raft::Role::kLeader) continue;
      auto [it, inserted] = leader_of_term.emplace(a->raft_term().value(), name);
      if (!inserted && it->second != name) {
        out.failure = fmt::format("two leaders in term {}: {} and {}", it->first, it->second, name);
        return true;
      }
    }
    return false;
  };
  world.run_until([&] { return check_leaders() || (workload.done() && world.now() >= heal_at); },
                  heal_at + Duration::seconds(300));
  if (!out.failure.empty()) return out;
  if (!workload.done()) {
    out.failure = fmt::format("workload did not finish: {}", workload.counts());
    return out;
  }
  if (!workload.protocol_errors().empty()) {
    out.failure = "protocol error: " + workload.protocol_errors().front();
    return out;
  }
  const sim::CheckResult lin = sim::check_kv_linearizable(workload.history());
  if (!lin.ok) {
    out.failure = fmt::format("history not linearizable ({}): {}",
                              lin.exhausted ? "search exhausted" : "violation", lin.detail);
    return out;
  }

  // Liveness after healing: every server back up, then a leader and a committed write within
  // 10 election timeouts (1 s each with raft_multiplier 1).
  for (const auto& name : names) {
    if (!world.is_up(name)) world.restart(name);
  }
  const Instant live_by = world.now() + Duration::seconds(10);
  RequestId put{0};
  bool committed = false;
  world.run_until(
      [&] {
        if (check_leaders()) return true;
        if (put == RequestId(0)) {
          for (const auto& name : names) {
            Agent* a = world.process_as<Agent>(name);
            if (a != nullptr && a->raft_role() == raft::Role::kLeader) {
              node::HttpRequest r;
              r.method = "PUT";
              r.path = "/v1/kv/liveness";
              r.body = "ok";
              put = world.submit(name, r);
              break;
            }
          }
          return false;
        }
        const auto* reply = world.reply(put);
        if (reply->status == sim::ClientReply::Status::kPending) return false;
        if (reply->status == sim::ClientReply::Status::kAnswered && reply->response.body == "true") {
          committed = true;
          return true;
        }
        put = RequestId(0);  // lost or refused (leader changed): try again
        return false;
      },
      live_by);
  if (!out.failure.empty()) return out;
  if (!committed) {
    out.failure = "no leader with a committed write within 10 election timeouts after healing";
    return out;
  }

  // Convergence: all servers apply the same log.
  world.run_for(Duration::seconds(5));
  const Agent* first = world.process_as<Agent>("s1");
  if (first == nullptr) {
    out.failure = "s1 is down at the end";
    return out;
  }
  for (const auto& name : names) {
    const Agent* a = world.process_as<Agent>(name);
    if (a == nullptr) {
      out.failure = name + " is down at the end";
      return out;
    }
    if (a->fsm().kv().entries() != first->fsm().kv().entries()) {
      out.failure = fmt::format("{} and s1 hold different catalogs at the end", name);
      return out;
    }
  }
  if (!world.violations().empty()) out.failure = "world violation: " + world.violations().front();
  out.trace_hash = world.trace_hash();
  return out;
}

std::uint64_t seed_count() {
  if (const char* n = std::getenv("PRAETOR_SEEDS")) return std::strtoull(n, nullptr, 10);
  return 300;
}

TEST(RaftClusterFaults, SwarmOfSeeds) {
  if (const char* one = std::getenv("PRAETOR_SEED")) {
    const std::uint64_t seed = std::strtoull(one, nullptr, 10);
    Outcome o = run_seed(seed);
    EXPECT_EQ(o.failure, "") << "seed=" << seed << " plan: " << o.plan;
    return;
  }
  const std::uint64_t count = seed_count();
  std::uint64_t failures = 0;
  for (std::uint64_t seed = 1; seed <= count && failures < 3; ++seed) {
    Outcome o = run_seed(seed);
    if (!o.failure.empty()) {
      ++failures;
      ADD_FAILURE() << "seed=" << seed << ": " << o.failure << "\n  plan: " << o.plan
                    << "\n  replay: PRAETOR_SEED=" << seed
                    << " PRAETOR_TRACE=1 raft_cluster_faults_test";
    }
  }
}

TEST(RaftClusterFaults, ASeedReplaysExactly) {
  Outcome a = run_seed(4242);
  Outcome b = run_seed(4242);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.failure, b.failure);
}

}  // namespace
}  // namespace praetor
