// Seeded simulator properties of Swim + Serf (issue 4, test matrix §2.3), on the simulator's
// gossip driver. Each property runs a few seeds by default; a failure prints its seed and the
// command that replays it.
//
//   PRAETOR_SEED=N   run only seed N (replay)
//   PRAETOR_SEEDS=K  run seeds 1..K (a longer sweep)
//
// The long runs (500 nodes for a simulated hour, the 30 % loss flap rate, thousands of nodes) are
// praetor-sim scenarios: `praetor-sim run --scenario gossip-loss --nodes 500` and
// `--scenario gossip-scale --nodes N` (docs/benchmarks.md, "Gossip").
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/gossip/codec.hpp"
#include "core/gossip/format.hpp"
#include "core/gossip/serf.hpp"
#include "core/gossip/suspicion.hpp"
#include "tests/core/gossip/cluster.hpp"

namespace praetor::gossip {
namespace {

using testing::Cluster;
using testing::node_address;
using testing::node_name;

std::vector<std::uint64_t> seeds(std::uint64_t default_count) {
  if (const char* one = std::getenv("PRAETOR_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t count = default_count;
  if (const char* n = std::getenv("PRAETOR_SEEDS")) count = std::strtoull(n, nullptr, 10);
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 1; s <= count; ++s) out.push_back(s);
  return out;
}

// What to print with a failure: the seed and how to replay it.
std::string replay(std::uint64_t seed) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return fmt::format("seed {}; replay: PRAETOR_SEED={} gossip_property_test --gtest_filter={}.{}",
                     seed, seed, info->test_suite_name(), info->name());
}

enum class Pool { kLan, kWan };

// PRAETOR_GOSSIP_LOG=<text> prints the cores' log lines containing <text> (e.g. a node name).
class FilterLog final : public Logger {
 public:
  explicit FilterLog(std::string needle) : needle_(std::move(needle)) {}
  std::function<Instant()> clock;
  void log(LogLevel, std::string_view subsystem, std::string_view message) override {
    if (message.find(needle_) != std::string_view::npos) {
      fmt::print(stderr, "{} [{}] {}\n", clock ? clock() : Instant::zero(), subsystem, message);
    }
  }
  bool enabled(LogLevel level) const override { return level >= LogLevel::kDebug; }

 private:
  std::string needle_;
};

FilterLog* env_logger() {
  static FilterLog* log = [] {
    const char* needle = std::getenv("PRAETOR_GOSSIP_LOG");
    return needle == nullptr ? nullptr : new FilterLog(needle);
  }();
  return log;
}

Cluster<Serf> make_cluster(std::size_t n, std::uint64_t seed, Pool pool = Pool::kLan,
                           Logger* logger = nullptr) {
  typename Cluster<Serf>::Options o;
  o.nodes = n;
  o.seed = seed;
  o.logger = logger != nullptr ? logger : env_logger();
  if (pool == Pool::kWan) {
    o.latency_min = Duration::milliseconds(20);
    o.latency_max = Duration::milliseconds(120);
  }
  // Checking every invariant after every input is O(members); at 50 nodes it dominates.
  o.check_invariants = n <= 10;
  Cluster<Serf> c(o, [pool](std::size_t i) {
    return pool == Pool::kLan ? SerfConfig::lan(node_name(i), node_address(i))
                              : SerfConfig::wan(node_name(i), node_address(i));
  });
  return c;
}

// Log lines carry the cluster's time (the cluster must not move after this).
void attach_clock(Cluster<Serf>& c) {
  if (FilterLog* log = env_logger()) log->clock = [&c] { return c.now(); };
}


// Every live node lists exactly the live nodes as alive.
bool converged(Cluster<Serf>& c) { return sim::serf_converged(c); }

// Nodes join a random node that joined before them, spread over `window`.
void join_over(Cluster<Serf>& c, Duration window) {
  for (std::size_t i = 1; i < c.size(); ++i) {
    c.run_until(Instant::zero() + window * static_cast<std::int64_t>(i) /
                                      static_cast<std::int64_t>(c.size()));
    c.join(i, static_cast<std::size_t>(c.rng().uniform(i)));
  }
}

// Member lists as (name, status) pairs: what "identical member lists" compares.
std::vector<std::pair<std::string, SerfStatus>> member_list(const Serf& s) {
  std::vector<std::pair<std::string, SerfStatus>> out;
  for (const auto& [name, m] : s.members()) out.emplace_back(name, m.status);
  return out;
}

// --- convergence after joining -------------------------------------------------------------

void expect_converges(std::size_t n, std::uint64_t seed) {
  auto c = make_cluster(n, seed);
  join_over(c, Duration::seconds(2));
  // Joins are push/pulls with a member that may not know everyone yet; gossip and the
  // periodic push/pull finish the job.
  const Duration limit = Duration::seconds(30);
  ASSERT_TRUE(c.run_until_true(c.now() + limit, [&] { return converged(c); }))
      << "n=" << n << " not converged " << fmt::format("{}", limit) << " after the last join; " << replay(seed);
  c.run_for(Duration::seconds(30));
  EXPECT_TRUE(converged(c)) << "n=" << n << " diverged after converging; " << replay(seed);
  for (std::size_t i = 1; i < n; ++i) {
    ASSERT_EQ(member_list(c.node(i)), member_list(c.node(0))) << replay(seed);
  }
}

TEST(GossipProperty, FiveNodesConverge) {
  for (std::uint64_t seed : seeds(10)) expect_converges(5, seed);
}

TEST(GossipProperty, FiftyNodesConverge) {
  for (std::uint64_t seed : seeds(2)) expect_converges(50, seed);
}

// --- G3: crash detection within memberlist's suspicion bound --------------------------------

// min = SuspicionMult * max(1, log10 N) * ProbeInterval, max = 6 * min; every member must mark a
// crashed node failed within max plus probe time: one pass of round-robin probing (each member
// probes the crashed node within one pass over the list) and that probe's own round.
void expect_crash_detected(std::size_t n, std::uint64_t seed) {
  auto c = make_cluster(n, seed);
  join_over(c, Duration::seconds(2));
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }))
      << replay(seed);
  const std::size_t victim = 1 + static_cast<std::size_t>(c.rng().uniform(n - 1));
  std::map<std::size_t, Instant> failed_at;
  c.on_event = [&](std::size_t i, Instant at, const SerfEvent& e) {
    if (e.kind != SerfEventKind::kMemberFailed) return;
    if (e.member.name == node_name(victim)) {
      failed_at.emplace(i, at);
    } else {
      ADD_FAILURE() << node_name(i) << " marked healthy " << e.member.name << " failed; "
                    << replay(seed);
    }
  };
  const Instant crash = c.now();
  c.crash(victim);
  const Config& cfg = c.node(0).swim().config();
  const Duration min = suspicion_timeout(cfg.suspicion_mult, n, cfg.probe_interval);
  const Duration max = min * cfg.suspicion_max_timeout_mult;
  // The formula's values for the LAN defaults (test matrix G3: N=50 gives about 6.8 s / 41 s).
  if (n == 50) {
    EXPECT_EQ(min, Duration::milliseconds(6795));
    EXPECT_EQ(max, Duration::milliseconds(40770));
  }
  const Duration probe_time = cfg.probe_interval * static_cast<std::int64_t>(n);
  const Duration bound = max + probe_time;
  c.run_for(bound + Duration::seconds(1));
  Duration worst = Duration::zero();
  for (std::size_t i = 0; i < n; ++i) {
    if (i == victim) continue;
    ASSERT_TRUE(failed_at.contains(i))
        << node_name(i) << " never marked the crashed " << node_name(victim) << " failed; n=" << n
        << " " << replay(seed);
    worst = std::max(worst, failed_at[i] - crash);
  }
  EXPECT_LE(worst, bound) << "n=" << n << " " << replay(seed);
  // Nobody fails before the shortest timeout: the crashed node got its chance to refute.
  const Duration first = std::min_element(failed_at.begin(), failed_at.end(), [](auto& a, auto& b) {
                           return a.second < b.second;
                         })->second - crash;
  EXPECT_GE(first, min) << "n=" << n << " " << replay(seed);
}

TEST(GossipProperty, CrashIsMarkedFailedByEveryMemberWithinTheSuspicionBound) {
  for (std::uint64_t seed : seeds(5)) expect_crash_detected(5, seed);
  for (std::uint64_t seed : seeds(2)) expect_crash_detected(50, seed);
}

// --- G1: no healthy member marked dead at up to 10 % loss ------------------------------------

// Five simulated minutes per seed at 5 nodes, three at 50, by default (PRAETOR_SEEDS for more;
// the hour at 5/50/500 nodes and the 30 % flap rate are praetor-sim's gossip-loss scenario).
void expect_no_false_failures(std::size_t n, double loss, std::uint64_t seed, Duration span) {
  auto c = make_cluster(n, seed);
  attach_clock(c);
  join_over(c, Duration::seconds(2));
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }))
      << replay(seed);
  std::uint64_t failed = 0;
  c.on_event = [&](std::size_t i, Instant at, const SerfEvent& e) {
    if (e.kind != SerfEventKind::kMemberFailed) return;
    ++failed;
    ADD_FAILURE() << "at " << fmt::format("{}", at) << " " << node_name(i) << " marked healthy " << e.member.name
                  << " failed (n=" << n << ", loss " << loss << "); " << replay(seed);
  };
  c.set_loss(loss);
  c.run_for(span);
  EXPECT_EQ(failed, 0u);
  // The loss was felt: direct pings went unanswered and the stream fallback saved the probes.
  std::uint64_t rescued = 0;
  for (std::size_t i = 0; i < n; ++i) rescued += c.node(i).swim().stats().fallback_acks;
  EXPECT_GT(rescued, 0u) << replay(seed);
  c.set_loss(0);
  EXPECT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }))
      << replay(seed);
}

TEST(GossipProperty, NoHealthyMemberMarkedFailedAtTenPercentLoss) {
  for (std::uint64_t seed : seeds(3)) {
    expect_no_false_failures(5, 0.10, seed, Duration::minutes(5));
  }
  for (std::uint64_t seed : seeds(1)) {
    expect_no_false_failures(50, 0.10, seed, Duration::minutes(3));
  }
}

// Records (prober, target) of every failed probe the cores log.
class ProbeFailureLog final : public Logger {
 public:
  std::vector<std::pair<std::string, std::string>> lines;
  void log(LogLevel, std::string_view, std::string_view message) override {
    // "<prober>: suspect <target> has failed, no acks received"
    constexpr std::string_view kMid = ": suspect ";
    constexpr std::string_view kEnd = " has failed, no acks received";
    const std::size_t mid = message.find(kMid);
    if (mid == std::string_view::npos || !message.ends_with(kEnd)) return;
    const std::size_t target = mid + kMid.size();
    lines.emplace_back(std::string(message.substr(0, mid)),
                       std::string(message.substr(target, message.size() - kEnd.size() - target)));
  }
  bool enabled(LogLevel level) const override { return level >= LogLevel::kInfo; }
};

// --- G2: a CPU-starved member ---------------------------------------------------------------

// One member's event loop gets the CPU only in short slices (10-100 ms) between pauses of 1-5 s,
// for five minutes; its packets wait in its socket buffer while it is paused. It may be
// suspected, and may suspect others, but no healthy member is ever marked failed, and its
// Lifeguard health score climbs to the maximum (multiplier 8): its probes straddle pauses and
// miss their acks and nacks, and it keeps having to refute suspicions of itself.
//
// Why the previous version of this test peaked at 4-5: it let the member run normally for
// 2-8 s between pauses, and every successful probe in those runs lowers the score by one, while a
// pause raises it by at most 3 (three missed nacks) + 1 (a refute). Lifeguard stretches a
// struggling member's probe deadline to (score+1) probe intervals, so once the score passed 4
// a 5 s pause no longer failed a probe, and the long healthy runs drained the score. The core
// behaves as memberlist does (same deltas); a starved member is one that rarely runs.
TEST(GossipProperty, StarvedMemberReachesMaxAwarenessAndKillsNobody) {
  for (std::uint64_t seed : seeds(2)) {
    ProbeFailureLog failures;
    auto c = make_cluster(10, seed, Pool::kLan, &failures);
    join_over(c, Duration::seconds(2));
    ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(30), [&] { return converged(c); }))
        << replay(seed);
    const std::size_t starved = 3;
    failures.lines.clear();
    const Instant start = c.now();
    const Instant end = start + Duration::minutes(5);
    int max_score = 0;
    int pauses = 0;
    Instant resume_at = start;
    Instant pause_at = start;
    c.after_input = [&](std::size_t i) {
      if (i != starved) return;
      max_score = std::max(max_score, c.node(i).swim().awareness().score());
    };
    c.on_event = [&](std::size_t i, Instant, const SerfEvent& e) {
      if (e.kind == SerfEventKind::kMemberFailed && e.member.name != node_name(starved)) {
        ADD_FAILURE() << node_name(i) << " marked healthy " << e.member.name << " failed; "
                      << replay(seed);
      }
    };
    // Pause, run a slice, pause again...
    while (c.now() < end) {
      pause_at = c.now() + c.rng().between(Duration::milliseconds(1), Duration::milliseconds(5));
      c.run_until(pause_at);
      resume_at = c.now() + c.rng().between(Duration::seconds(1), Duration::seconds(5));
      c.stall(starved, resume_at);
      ++pauses;
      c.run_until(resume_at);
    }
    const Swim& swim = c.node(starved).swim();
    EXPECT_GE(pauses, 60) << replay(seed);
    EXPECT_EQ(max_score + 1, swim.awareness().max_multiplier())
        << "the starved member's health multiplier peaked at " << max_score + 1 << " of "
        << swim.awareness().max_multiplier() << "; " << replay(seed);
    EXPECT_GT(swim.stats().refutes, 0u) << replay(seed);
    // Healthy members never accuse each other: a healthy member's failed probe is always one of
    // the starved member (memberlist's "suspect X has failed, no acks received").
    std::size_t starved_probed = 0;
    for (const auto& [prober, target] : failures.lines) {
      if (prober == node_name(starved)) continue;
      EXPECT_EQ(target, node_name(starved)) << prober << "'s probe of healthy " << target
                                            << " failed; " << replay(seed);
      ++starved_probed;
    }
    EXPECT_GT(starved_probed, 0u) << "nobody noticed the starved member; " << replay(seed);
    // Healthy members' own scores stay low: they only miss the starved member's nacks.
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (i == starved) continue;
      EXPECT_LT(c.node(i).swim().awareness().score(), 4) << node_name(i) << "; " << replay(seed);
    }
    // Fed again, it recovers: the score falls back and the cluster converges.
    c.after_input = nullptr;
    c.run_for(Duration::seconds(60));
    EXPECT_TRUE(converged(c)) << replay(seed);
    EXPECT_LT(c.node(starved).swim().awareness().score(), max_score) << replay(seed);
  }
}

// --- G5: partitions heal within three push/pull intervals ----------------------------------

// A partition long enough for each side to mark the other failed, then heal: every member ends
// with the same member list (names and statuses), all alive, within 3 push/pull intervals.
void expect_partition_heals(Pool pool, std::uint64_t seed) {
  const std::size_t n = 8;
  auto c = make_cluster(n, seed, pool);
  join_over(c, Duration::seconds(2));
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(60), [&] { return converged(c); }))
      << replay(seed);
  // Three against five: side A is nodes 0-2, side B 3-7 (in the WAN pool: two datacenters).
  std::vector<std::size_t> a{0, 1, 2}, b{3, 4, 5, 6, 7};
  c.partition(a, b);
  const Config& cfg = c.node(0).swim().config();
  const Duration max_suspicion =
      suspicion_timeout(cfg.suspicion_mult, n, cfg.probe_interval) * cfg.suspicion_max_timeout_mult;
  ASSERT_TRUE(c.run_until_true(c.now() + max_suspicion * 2, [&] {
    for (std::size_t i : a) {
      for (std::size_t j : b) {
        if (c.node(i).members().at(node_name(j)).status != SerfStatus::kFailed) return false;
        if (c.node(j).members().at(node_name(i)).status != SerfStatus::kFailed) return false;
      }
    }
    return true;
  })) << "the sides never marked each other failed; "
      << replay(seed);
  c.heal();
  const Duration bound = push_pull_scale(cfg.push_pull_interval, n) * 3;
  const Instant healed = c.now();
  ASSERT_TRUE(c.run_until_true(healed + bound, [&] { return converged(c); }))
      << "not healed within 3 push/pull intervals (" << fmt::format("{}", bound) << "); " << replay(seed);
  for (std::size_t i = 1; i < n; ++i) {
    EXPECT_EQ(member_list(c.node(i)), member_list(c.node(0))) << replay(seed);
  }
}

TEST(GossipProperty, LanPartitionHealsWithinThreePushPullIntervals) {
  for (std::uint64_t seed : seeds(3)) expect_partition_heals(Pool::kLan, seed);
}

TEST(GossipProperty, WanPartitionHealsWithinThreePushPullIntervals) {
  for (std::uint64_t seed : seeds(3)) expect_partition_heals(Pool::kWan, seed);
}

}  // namespace
}  // namespace praetor::gossip

namespace praetor::gossip {
namespace {

// Stale news (a suspicion of an incarnation already refuted) is answered with the current alive,
// to the sender only, in one packet however many stale messages the packet held: a spoofed
// packet cannot make a member send more than it received.
TEST(GossipStaleNews, AnsweredWithOneAlivePacketToTheSender) {
  Cluster<Swim> c({.nodes = 3, .seed = 5},
                  [](std::size_t i) { return Config::lan(node_name(i), node_address(i)); });
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  const Incarnation known = c.node(0).members().at(node_name(1)).incarnation;
  ASSERT_GE(known.value(), 1u);
  std::vector<Bytes> frames;
  for (int k = 0; k < 60; ++k) {  // 60 frames of 17 bytes fill most of a datagram
    frames.push_back(encode_frame(Suspect{Incarnation(0), node_name(1), node_name(2)}));
  }
  int replies = 0;
  bool carries_alive = false;
  c.on_send = [&](std::size_t from, std::size_t to, const OutboundPacket& p) {
    if (from != 0 || to != 2) return;
    ++replies;
    auto decoded = decode_packet(p.bytes, limits::kGossipMaxPacketBytes);
    ASSERT_TRUE(decoded);
    for (const Message& m : *decoded) {
      const auto* alive = std::get_if<Alive>(&m);
      carries_alive |= alive != nullptr && alive->node == node_name(1) && alive->incarnation == known;
    }
  };
  c.inject(0, node_address(2), encode_packet(frames));
  EXPECT_EQ(replies, 1);
  EXPECT_TRUE(carries_alive);
  EXPECT_EQ(c.node(0).members().at(node_name(1)).state, MemberState::kAlive);
  EXPECT_GE(c.node(0).stats().stale_corrections, 1u);
}

}  // namespace
}  // namespace praetor::gossip
