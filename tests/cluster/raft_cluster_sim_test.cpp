// Three servers in the simulator: bootstrap_expect discovery, election, writes forwarded from
// followers, a crashed leader replaced, a restarted server catching up, and no acknowledged
// write lost. Every run is one seed; a failure prints it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "core/node/agent.hpp"
#include "sim/world.hpp"
#include "tests/support/http_request.hpp"

namespace praetor {
namespace {

using node::Agent;
using node::AgentConfig;

AgentConfig server_config(int n) {
  AgentConfig c;
  c.node_name = fmt::format("s{}", n);
  c.datacenter = "dc1";
  c.server = true;
  c.bootstrap_expect = 3;
  c.data_dir = "/data";
  c.bind_addr = fmt::format("127.0.0.{}", n + 1);
  c.raft_multiplier = 1;
  c.check_invariants_each_input = true;
  c.raft_snapshot_threshold = 32;
  for (int other = 1; other <= 3; ++other) {
    if (other != n) c.retry_join.push_back(fmt::format("127.0.0.{}", other + 1));
  }
  return c;
}

using testing::http;

class ThreeServers {
 public:
  explicit ThreeServers(std::uint64_t seed) : world(seed) {
    if (std::getenv("PRAETOR_TRACE") != nullptr) world.trace().set_echo(stderr);
    for (int n = 1; n <= 3; ++n) {
      sim::NodeOptions options;
      options.name = fmt::format("s{}", n);
      options.addresses = {fmt::format("127.0.0.{}", n + 1)};
      world.add_process(options, [n] { return std::make_unique<Agent>(server_config(n)); });
    }
  }

  Agent* agent(int n) { return world.process_as<Agent>(fmt::format("s{}", n)); }

  // The leader's name when every running server agrees on one, else "".
  std::string agreed_leader() {
    std::optional<std::string> leader;
    for (int n = 1; n <= 3; ++n) {
      Agent* a = agent(n);
      if (a == nullptr) continue;
      auto addr = a->leader_address();
      if (!addr) return "";
      if (leader && *leader != *addr) return "";
      leader = addr;
    }
    if (!leader) return "";
    for (int n = 1; n <= 3; ++n) {
      if (*leader == fmt::format("127.0.0.{}:8300", n + 1)) return fmt::format("s{}", n);
    }
    return "";
  }

  std::string wait_for_leader(Duration within) {
    std::string leader;
    world.run_until([&] { return !(leader = agreed_leader()).empty(); }, world.now() + within);
    return leader;
  }

  // Submits a PUT and runs until it is answered; returns the answer body (or "" when lost).
  std::optional<std::string> put(const std::string& on, const std::string& key,
                                 const std::string& value) {
    RequestId id = world.submit(on, http("PUT", "/v1/kv/" + key, value));
    world.run_until([&] { return world.reply(id)->status != sim::ClientReply::Status::kPending; },
                    world.now() + Duration::seconds(30));
    const auto* r = world.reply(id);
    if (r->status != sim::ClientReply::Status::kAnswered) return std::nullopt;
    if (r->response.status != 200) return r->response.body;
    return r->response.body;
  }

  sim::World world;
};

void run_scenario(std::uint64_t seed) {
  SCOPED_TRACE(fmt::format("seed={} (replay: --gtest_filter=*Seed{}*)", seed, seed));
  ThreeServers c(seed);
  const std::string first = c.wait_for_leader(Duration::seconds(30));
  ASSERT_FALSE(first.empty()) << "no leader elected";

  std::map<std::string, std::string> acknowledged;
  for (int i = 0; i < 12; ++i) {
    const std::string on = fmt::format("s{}", 1 + i % 3);  // followers forward to the leader
    const std::string key = fmt::format("k{}", i);
    const std::string value = fmt::format("v{}-{}", i, seed);
    auto answer = c.put(on, key, value);
    ASSERT_TRUE(answer) << "PUT " << key << " via " << on << " was lost";
    ASSERT_EQ(*answer, "true") << "PUT " << key << " via " << on;
    acknowledged[key] = value;
  }

  c.world.crash(first);
  std::string second;
  c.world.run_until(
      [&] {
        second = c.agreed_leader();
        return !second.empty() && second != first;
      },
      c.world.now() + Duration::seconds(30));
  ASSERT_FALSE(second.empty()) << "no new leader after crashing " << first;
  for (int i = 12; i < 18; ++i) {
    const std::string key = fmt::format("k{}", i);
    auto answer = c.put(second, key, "after-crash");
    ASSERT_TRUE(answer);
    ASSERT_EQ(*answer, "true");
    acknowledged[key] = "after-crash";
  }

  c.world.restart(first);
  c.world.run_for(Duration::seconds(10));
  for (int n = 1; n <= 3; ++n) {
    Agent* a = c.agent(n);
    ASSERT_NE(a, nullptr);
    for (const auto& [key, value] : acknowledged) {
      const auto* e = a->fsm().kv().get(key);
      ASSERT_NE(e, nullptr) << "s" << n << " lost acknowledged key " << key;
      EXPECT_EQ(to_string(e->value), value) << "s" << n << " " << key;
    }
  }
  EXPECT_TRUE(c.world.violations().empty());
}

class RaftClusterSim : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(RaftClusterSim, Seed) { run_scenario(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Seeds, RaftClusterSim, ::testing::Range<std::uint64_t>(1, 11));

// A follower whose data_dir is wiped comes back as a new server (a new node id): the leader
// removes its stale identity, adds it as a learner, sends it a snapshot, and promotes it.
void run_wiped_follower(std::uint64_t seed) {
  SCOPED_TRACE(fmt::format("seed={}", seed));
  ThreeServers c(seed);
  const std::string leader = c.wait_for_leader(Duration::seconds(30));
  ASSERT_FALSE(leader.empty());
  std::map<std::string, std::string> acknowledged;
  for (int i = 0; i < 60; ++i) {  // past the snapshot threshold, so it must catch up by snapshot
    const std::string key = fmt::format("w{}", i);
    auto answer = c.put(leader, key, fmt::format("v{}", i));
    ASSERT_TRUE(answer);
    ASSERT_EQ(*answer, "true");
    acknowledged[key] = fmt::format("v{}", i);
  }
  const std::string victim = leader == "s2" ? "s3" : "s2";
  const std::string old_id = c.world.process_as<Agent>(victim)->node_id();
  c.world.crash(victim);
  auto& disk = c.world.storage(victim);
  WriteBatch wipe;
  for (const auto& [file, bytes] : disk.durable()) {
    wipe.ops.push_back({WriteOp::Kind::kRemove, file, {}, 0});
  }
  disk.apply(wipe, ~std::uint64_t{0} - 1);
  disk.sync_through(~std::uint64_t{0} - 1);
  ASSERT_TRUE(disk.files().empty());
  c.world.restart(victim);
  Agent* reborn = nullptr;
  c.world.run_until(
      [&] {
        reborn = c.world.process_as<Agent>(victim);
        Agent* l = c.world.process_as<Agent>(leader);
        if (reborn == nullptr || l == nullptr) return false;
        if (reborn->raft_role() != raft::Role::kFollower || !reborn->leader_address()) return false;
        if (reborn->fsm().kv().entries().size() < acknowledged.size()) return false;
        // Done when the promotion is committed and every server has it in its log.
        const raft::Status ls = l->raft()->status();
        if (ls.commit < ls.last_index || ls.membership.voters.size() != 3) return false;
        for (const char* n : {"s1", "s2", "s3"}) {
          const Agent* a = c.world.process_as<Agent>(n);
          if (a == nullptr || a->raft()->status().membership != ls.membership) return false;
        }
        return true;
      },
      c.world.now() + Duration::seconds(60));
  ASSERT_NE(reborn, nullptr);
  EXPECT_NE(reborn->node_id(), old_id);
  Agent* l = c.world.process_as<Agent>(leader);
  EXPECT_EQ(l->raft()->status().membership.voters.size(), 3u);
  EXPECT_TRUE(l->raft()->status().membership.learners.empty());
  EXPECT_TRUE(l->raft_has_member(reborn->node_id()));
  EXPECT_FALSE(l->raft_has_member(old_id));
  for (const auto& [key, value] : acknowledged) {
    const auto* e = reborn->fsm().kv().get(key);
    ASSERT_NE(e, nullptr) << key;
    EXPECT_EQ(to_string(e->value), value);
  }
  // The rebuilt server votes again: the cluster survives losing the old leader now.
  c.world.crash(leader);
  std::string next;
  c.world.run_until([&] { return !(next = c.agreed_leader()).empty() && next != leader; },
                    c.world.now() + Duration::seconds(30));
  EXPECT_FALSE(next.empty());
}

TEST(RaftClusterSimWipe, WipedFollowerRejoinsThroughASnapshot) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) run_wiped_follower(seed);
}

TEST(RaftClusterSimDeterminism, SameSeedSameTrace) {
  std::uint64_t hashes[2];
  for (auto& h : hashes) {
    ThreeServers c(77);
    c.wait_for_leader(Duration::seconds(30));
    c.put("s1", "a", "b");
    h = c.world.trace_hash();
  }
  EXPECT_EQ(hashes[0], hashes[1]);
}

}  // namespace
}  // namespace praetor
