// Whole-cluster properties of Swim + Serf on the deterministic driver (test-matrix §2.3):
// convergence after joins, crash detection within the Lifeguard bound, no false deaths under
// moderate loss, partition healing, and robustness to a stalled member. Each property runs over
// a few seeds; longer spans and larger clusters belong to the simulator sweep.
#include "tests/core/gossip/cluster.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/gossip/codec.hpp"
#include "core/gossip/format.hpp"
#include "core/gossip/serf.hpp"

namespace praetor::gossip {
namespace {

using testing::Cluster;
using testing::node_address;
using testing::node_name;

Cluster<Serf> make_cluster(std::size_t n, std::uint64_t seed, bool lan = true, double loss = 0) {
  return Cluster<Serf>({.nodes = n, .seed = seed, .loss = loss}, [lan](std::size_t i) {
    return lan ? SerfConfig::lan(node_name(i), node_address(i))
               : SerfConfig::local(node_name(i), node_address(i));
  });
}

// Every live node lists exactly the live nodes, all alive.
bool converged(Cluster<Serf>& c) { return sim::serf_converged(c); }

// Joins every node to node 0 at random times within the first two seconds.
void staggered_join(Cluster<Serf>& c) {
  std::vector<std::pair<Instant, std::size_t>> joins;
  for (std::size_t i = 1; i < c.size(); ++i) {
    joins.emplace_back(c.now() + c.rng().between(Duration::zero(), Duration::seconds(2)), i);
  }
  std::sort(joins.begin(), joins.end());
  for (const auto& [at, i] : joins) {
    c.run_until(at);
    c.join(i, 0);
  }
}

void expect_converges(std::size_t n, std::uint64_t seed, Duration limit) {
  auto c = make_cluster(n, seed);
  staggered_join(c);
  const Instant start = c.now();
  ASSERT_TRUE(c.run_until_true(start + limit, [&] { return converged(c); }))
      << "n=" << n << " seed=" << seed;
  // And it stays that way.
  c.run_for(Duration::seconds(30));
  EXPECT_TRUE(converged(c)) << "n=" << n << " seed=" << seed;
}

TEST(GossipCluster, FiveNodesConverge) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) expect_converges(5, seed, Duration::seconds(10));
}

TEST(GossipCluster, FiftyNodesConverge) {
  for (std::uint64_t seed = 1; seed <= 2; ++seed) {
    expect_converges(50, seed, Duration::seconds(30));
  }
}

// G3: a crashed member is marked failed by every member within the max suspicion timeout plus
// the time for some member to probe it.
void expect_crash_detected(std::size_t n, std::uint64_t seed) {
  auto c = make_cluster(n, seed);
  staggered_join(c);
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
  const std::size_t victim = 1 + static_cast<std::size_t>(c.rng().uniform(n - 1));
  std::map<std::size_t, Instant> failed_at;
  c.on_event = [&](std::size_t i, Instant at, const SerfEvent& e) {
    if (e.kind == SerfEventKind::kMemberFailed && e.member.name == node_name(victim)) {
      failed_at.emplace(i, at);
    }
    EXPECT_FALSE(e.kind == SerfEventKind::kMemberFailed && e.member.name != node_name(victim))
        << node_name(i) << " marked healthy " << e.member.name << " failed";
  };
  const Instant crash = c.now();
  c.crash(victim);
  const Config& cfg = c.node(0).swim().config();
  const Duration max =
      suspicion_timeout(cfg.suspicion_mult, n, cfg.probe_interval) * cfg.suspicion_max_timeout_mult;
  // Round-robin guarantees each member probes the victim within one pass over the list.
  const Duration probe_time = cfg.probe_interval * static_cast<std::int64_t>(n);
  const Duration bound = max + probe_time;
  c.run_for(bound + Duration::seconds(1));
  Duration worst = Duration::zero();
  for (std::size_t i = 0; i < n; ++i) {
    if (i == victim) continue;
    ASSERT_TRUE(failed_at.contains(i)) << "n=" << n << " seed=" << seed << " observer " << i;
    worst = std::max(worst, failed_at[i] - crash);
  }
  EXPECT_LE(worst, bound) << "n=" << n << " seed=" << seed;
  // Independent confirmations from many members pull the timeout well under the maximum
  // (observed: about min + 1-3 s, e.g. 5.4 s for n=10 and 10.1 s for n=50).
  EXPECT_LT(worst, max / 2) << "n=" << n << " seed=" << seed;
}

TEST(GossipCluster, CrashIsDetectedByEveryMemberWithinTheSuspicionBound) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) expect_crash_detected(10, seed);
  expect_crash_detected(50, 7);
}

// G1: no healthy member is ever marked failed at up to 10% datagram loss.
TEST(GossipCluster, NoHealthyMemberDiesAtTenPercentLoss) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    auto c = make_cluster(10, seed);
    staggered_join(c);
    ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
    int false_deaths = 0;
    c.on_event = [&](std::size_t i, Instant, const SerfEvent& e) {
      if (e.kind == SerfEventKind::kMemberFailed) {
        ++false_deaths;
        ADD_FAILURE() << "seed " << seed << ": " << node_name(i) << " marked " << e.member.name
                      << " failed";
      }
    };
    c.set_loss(0.10);
    c.run_for(Duration::minutes(5));
    EXPECT_EQ(false_deaths, 0);
    // The loss was felt: direct pings went unanswered, and the stream fallback ping (memberlist's
    // TCP ping) kept those probes from turning into suspicions.
    std::uint64_t rescued = 0;
    for (std::size_t i = 0; i < c.size(); ++i) rescued += c.node(i).swim().stats().fallback_acks;
    EXPECT_GT(rescued, 0u) << "seed " << seed;
    c.set_loss(0);
    c.run_for(Duration::seconds(30));
    EXPECT_TRUE(converged(c));
  }
}

// G5: a partition long enough for both sides to declare the other failed heals to identical
// member lists within three push/pull intervals.
TEST(GossipCluster, PartitionHealsWithinThreePushPullIntervals) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    auto c = make_cluster(6, seed, /*lan=*/false);
    staggered_join(c);
    ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
    c.partition({0, 1, 2}, {3, 4, 5});
    c.run_for(Duration::seconds(60));
    for (std::size_t i = 0; i < 6; ++i) {
      const std::size_t other = i < 3 ? 4 : 1;
      EXPECT_EQ(c.node(i).members().at(node_name(other)).status, SerfStatus::kFailed)
          << "seed " << seed << " node " << i;
    }
    c.heal();
    const Duration push_pull = c.node(0).swim().config().push_pull_interval;
    ASSERT_TRUE(c.run_until_true(c.now() + push_pull * 3, [&] { return converged(c); }))
        << "seed " << seed;
    for (std::size_t i = 1; i < 6; ++i) {
      std::vector<std::string> a, b;
      for (const auto& [name, m] : c.node(0).members()) a.emplace_back(name);
      for (const auto& [name, m] : c.node(i).members()) b.emplace_back(name);
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      EXPECT_EQ(a, b);
    }
  }
}

// G2 (Lifeguard): a member whose loop stalls for 1-5 s at a time may itself be suspected, but
// it must not get healthy peers marked failed, and its own health score rises. The stalls start
// right after the starved member sent a probe, so that on resuming it runs its overdue probe
// timers before reading the acks waiting in its socket: the case Lifeguard was built for.
TEST(GossipCluster, StalledMemberDoesNotKillHealthyPeers) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    auto c = make_cluster(10, seed);
    staggered_join(c);
    ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
    const std::size_t starved = 3;
    int max_score = 0;
    int stalls = 0;
    std::uint64_t probes_seen = c.node(starved).swim().stats().probes;
    Instant next_stall = c.now();
    const Instant end = c.now() + Duration::minutes(3);
    c.after_input = [&](std::size_t i) {
      if (i != starved) return;
      const Swim& swim = c.node(i).swim();
      max_score = std::max(max_score, swim.awareness().score());
      if (swim.stats().probes == probes_seen) return;
      probes_seen = swim.stats().probes;
      if (c.now() < next_stall || c.now() > end) return;
      const Duration pause = c.rng().between(Duration::seconds(1), Duration::seconds(5));
      c.stall(i, c.now() + pause);
      ++stalls;
      next_stall = c.now() + pause + c.rng().between(Duration::seconds(2), Duration::seconds(8));
    };
    c.on_event = [&](std::size_t i, Instant, const SerfEvent& e) {
      if (e.kind == SerfEventKind::kMemberFailed && e.member.name != node_name(starved)) {
        ADD_FAILURE() << "seed " << seed << ": " << node_name(i) << " marked healthy "
                      << e.member.name << " failed";
      }
    };
    c.run_until(end);
    EXPECT_GE(stalls, 10) << "seed " << seed;
    // Each stall costs the missed nacks of its interrupted probe (+3 with three relays); the
    // successful probes between stalls pay it back one by one.
    EXPECT_GE(max_score, 3) << "seed " << seed;
    c.run_for(Duration::seconds(60));
    EXPECT_TRUE(converged(c)) << "seed " << seed;
  }
}

// G4: a false suspicion of a healthy member is refuted (buddy system and gossip) before anyone
// declares it dead.
TEST(GossipCluster, FalseSuspicionIsRefutedBeforeTimeout) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    auto c = make_cluster(8, seed);
    staggered_join(c);
    ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
    c.on_event = [&](std::size_t i, Instant, const SerfEvent& e) {
      EXPECT_NE(e.kind, SerfEventKind::kMemberFailed)
          << "seed " << seed << ": " << node_name(i) << " marked " << e.member.name;
    };
    const Incarnation before = c.node(5).swim().self().incarnation;
    // Node 1 is told node 5 is suspect; node 5 itself never hears that message directly.
    c.inject(1, node_address(2), encode_packet(Suspect{before, node_name(5), node_name(2)}));
    EXPECT_EQ(c.node(1).swim().members().at(node_name(5)).state, MemberState::kSuspect);
    c.run_for(Duration::seconds(60));
    EXPECT_GT(c.node(5).swim().self().incarnation, before) << "seed " << seed;
    EXPECT_EQ(c.node(5).swim().stats().refutes, 1u) << "seed " << seed;
    EXPECT_TRUE(converged(c));
  }
}

// A crashed node restarted without memory (incarnation back to 1) rejoins: the cluster's
// record of its death makes it refute past its old incarnation.
TEST(GossipCluster, RestartedNodeRejoins) {
  auto c = make_cluster(5, 4);
  staggered_join(c);
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
  c.crash(4);
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(40), [&] {
    for (std::size_t i = 0; i < 4; ++i) {
      if (c.node(i).members().at("n4").status != SerfStatus::kFailed) return false;
    }
    return true;
  }));
  // Restarted while the others still remember it dead at its old incarnation.
  c.restart(4);
  c.join(4, 1);
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
  EXPECT_GT(c.node(4).swim().self().incarnation, Incarnation(1));
}

// Same seed, same run: the driver and both cores are deterministic.
TEST(GossipCluster, SameSeedSameTrace) {
  auto run = [](std::uint64_t seed) {
    auto c = make_cluster(8, seed, true, 0.05);
    staggered_join(c);
    c.run_for(Duration::seconds(20));
    c.crash(3);
    c.run_for(Duration::seconds(20));
    return c.trace_hash();
  };
  EXPECT_EQ(run(9), run(9));
  EXPECT_NE(run(9), run(10));
}

// The WAN pool: servers named node.dc, WAN timers.
TEST(GossipCluster, WanPoolConverges) {
  Cluster<Serf> c({.nodes = 6,
                   .seed = 3,
                   .latency_min = Duration::milliseconds(20),
                   .latency_max = Duration::milliseconds(120)},
                  [](std::size_t i) {
                    return SerfConfig::wan(fmt::format("server{}.dc{}", i % 3, i / 3 + 1),
                                           node_address(i));
                  });
  c.join_all_to(0);
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }));
  EXPECT_TRUE(c.node(5).members().contains("server0.dc1"));
  EXPECT_TRUE(c.node(0).members().contains("server2.dc2"));
}

}  // namespace
}  // namespace praetor::gossip

namespace praetor::gossip {
namespace {

// G1 sweep (not in the default run): false failure marks and flaps per hour at 0-30 % loss.
//   build/.../gossip_cluster_test --gtest_also_run_disabled_tests --gtest_filter=*Sweep*
// PRAETOR_SWEEP_NODES (default "5,50") and PRAETOR_SWEEP_MINUTES (default 60) shape it.
TEST(GossipCluster, DISABLED_LossSweep) {
  std::vector<std::size_t> sizes{5, 50};
  if (const char* env = std::getenv("PRAETOR_SWEEP_NODES")) {
    sizes.clear();
    for (std::string_view rest = env; !rest.empty();) {
      const std::size_t comma = rest.find(',');
      sizes.push_back(std::stoul(std::string(rest.substr(0, comma))));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  const char* minutes_env = std::getenv("PRAETOR_SWEEP_MINUTES");
  const std::int64_t minutes = minutes_env != nullptr ? std::stoll(minutes_env) : 60;
  for (std::size_t n : sizes) {
    for (double loss : {0.0, 0.05, 0.10, 0.20, 0.30}) {
      auto c = make_cluster(n, 42);
      staggered_join(c);
      ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(60), [&] { return converged(c); }));
      std::uint64_t failed = 0;
      c.on_event = [&](std::size_t, Instant, const SerfEvent& e) {
        failed += e.kind == SerfEventKind::kMemberFailed;
      };
      c.set_loss(loss);
      c.run_for(Duration::minutes(minutes));
      std::uint64_t suspicions = 0, refutes = 0;
      for (std::size_t i = 0; i < n; ++i) {
        suspicions += c.node(i).swim().stats().suspicions_raised;
        refutes += c.node(i).swim().stats().refutes;
      }
      const double hours = static_cast<double>(minutes) / 60.0;
      fmt::print(
          "n={:3} loss={:4.2f} false-failed/h={:8.2f} suspicions/h={:8.1f} refutes/h={:8.1f}\n", n,
          loss, static_cast<double>(failed) / hours, static_cast<double>(suspicions) / hours,
          static_cast<double>(refutes) / hours);
      if (loss <= 0.10) {
        EXPECT_EQ(failed, 0u) << "n=" << n << " loss=" << loss;
      }
    }
  }
}

}  // namespace
}  // namespace praetor::gossip
