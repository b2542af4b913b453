// The Serf layer: leave intents, reaping, tags, name conflicts, user events.
#include "core/gossip/serf.hpp"

#include <gtest/gtest.h>

#include "core/gossip/codec.hpp"
#include "core/gossip/format.hpp"
#include "tests/core/gossip/cluster.hpp"

namespace praetor::gossip {
namespace {

using testing::Cluster;
using testing::node_address;
using testing::node_name;

struct Recorded {
  std::size_t node;
  Instant at;
  SerfEvent event;
};

Cluster<Serf> make_serf_cluster(std::size_t n, std::uint64_t seed,
                                std::function<void(SerfConfig&)> tweak = {}) {
  return Cluster<Serf>({.nodes = n, .seed = seed}, [tweak](std::size_t i) {
    SerfConfig c = SerfConfig::local(node_name(i), node_address(i));
    c.tags = {{"role", i == 0 ? "consul" : "node"}, {"dc", "dc1"}, {"id", node_name(i)}};
    if (tweak) tweak(c);
    return c;
  });
}

std::vector<SerfEventKind> kinds_about(const std::vector<Recorded>& log, std::size_t observer,
                                       const std::string& member) {
  std::vector<SerfEventKind> out;
  for (const Recorded& r : log) {
    if (r.node == observer && r.event.kind != SerfEventKind::kUser &&
        r.event.member.name == member) {
      out.push_back(r.event.kind);
    }
  }
  return out;
}

TEST(Serf, MembersConvergeWithTags) {
  auto c = make_serf_cluster(4, 11);
  c.join_all_to(0);
  c.run_for(Duration::seconds(10));
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& m = c.node(i).members();
    ASSERT_EQ(m.size(), 4u) << i;
    EXPECT_EQ(m.at("n0").tags.at("role"), "consul");
    EXPECT_EQ(m.at("n3").tags.at("id"), "n3");
    for (const auto& [name, member] : m) EXPECT_EQ(member.status, SerfStatus::kAlive);
  }
}

TEST(Serf, GracefulLeaveGoesLeavingThenLeftNeverFailed) {
  auto c = make_serf_cluster(4, 12);
  std::vector<Recorded> log;
  c.on_event = [&](std::size_t i, Instant at, const SerfEvent& e) { log.push_back({i, at, e}); };
  c.join_all_to(0);
  c.run_for(Duration::seconds(10));
  c.act(3, [&](auto& n) { n.leave(c.now()); });
  c.run_for(Duration::seconds(10));
  EXPECT_EQ(c.node(3).leave_phase(), LeavePhase::kDone);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.node(i).members().at("n3").status, SerfStatus::kLeft) << i;
    const auto kinds = kinds_about(log, i, "n3");
    ASSERT_GE(kinds.size(), 3u);
    EXPECT_EQ(kinds[kinds.size() - 2], SerfEventKind::kMemberLeaving) << i;
    EXPECT_EQ(kinds.back(), SerfEventKind::kMemberLeave) << i;
  }
}

TEST(Serf, CrashIsFailedAndBothAreReapedAfterTheirTimeouts) {
  auto c = make_serf_cluster(5, 13, [](SerfConfig& s) {
    s.reconnect_timeout = Duration::seconds(60);
    s.tombstone_timeout = Duration::seconds(30);
  });
  std::vector<Recorded> log;
  c.on_event = [&](std::size_t i, Instant at, const SerfEvent& e) { log.push_back({i, at, e}); };
  c.join_all_to(0);
  c.run_for(Duration::seconds(10));
  c.act(4, [&](auto& n) { n.leave(c.now()); });
  c.crash(3);
  const Instant t0 = c.now();
  c.run_for(Duration::seconds(25));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.node(i).members().at("n3").status, SerfStatus::kFailed);
    EXPECT_EQ(c.node(i).members().at("n4").status, SerfStatus::kLeft);
  }
  c.run_for(Duration::seconds(90));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(c.node(i).members().contains("n3"));
    EXPECT_FALSE(c.node(i).members().contains("n4"));
    int reaps = 0;
    for (const Recorded& r : log) {
      if (r.node != i || r.event.kind != SerfEventKind::kMemberReap) continue;
      ++reaps;
      const Duration timeout =
          r.event.member.name == "n3" ? Duration::seconds(60) : Duration::seconds(30);
      EXPECT_GT(r.at - r.event.member.leave_time, timeout);
      EXPECT_LE(r.at - r.event.member.leave_time, timeout + Duration::seconds(2));
      EXPECT_GT(r.at, t0);
    }
    EXPECT_EQ(reaps, 2) << i;
  }
}

TEST(Serf, UserEventsAreDeliveredExactlyOncePerMember) {
  auto c = make_serf_cluster(6, 14);
  std::map<std::size_t, int> delivered;
  c.on_event = [&](std::size_t i, Instant, const SerfEvent& e) {
    if (e.kind == SerfEventKind::kUser && e.user.name == "deploy") ++delivered[i];
  };
  c.join_all_to(0);
  c.run_for(Duration::seconds(10));
  ASSERT_TRUE(c.act(2, [&](Serf& n) { return n.user_event(c.now(), "deploy", to_bytes("v2")); }));
  // Gossip alone may miss a member (each copy is sent a few times only); push/pull (15 s in
  // the local preset) carries recent events to whoever missed them.
  c.run_for(Duration::seconds(40));
  std::uint64_t duplicates = 0;
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(delivered[i], 1) << i;
    duplicates += c.node(i).stats().user_events_duplicate;
  }
  EXPECT_GT(duplicates, 0u);  // re-gossip reached nodes that had it already
  EXPECT_FALSE(c.act(0, [&](Serf& n) { return n.user_event(c.now(), "big", Bytes(600, 1)); }));
  EXPECT_FALSE(c.act(0, [&](Serf& n) { return n.user_event(c.now(), "", Bytes{}); }));
}

TEST(Serf, DuplicateAndAncientUserEventsAreDropped) {
  NullLogger logger;
  SerfConfig config = SerfConfig::local("a", node_address(0));
  config.event_buffer_size = 4;
  Serf serf(config, Rng(3), logger);
  auto deliver = [&](std::uint64_t ltime, const std::string& name) {
    const Bytes payload = encode_serf_message(UserEvent{LamportTime(ltime), name, {}});
    serf.step(Instant::zero(), node_address(1), encode_packet(UserMessage{payload}));
    serf.check_invariants();
    int users = 0;
    for (const SerfEvent& e : serf.take_output().events) users += e.kind == SerfEventKind::kUser;
    return users;
  };
  EXPECT_EQ(deliver(5, "x"), 1);
  EXPECT_EQ(deliver(5, "x"), 0);
  EXPECT_EQ(deliver(5, "y"), 1);  // same time, different event
  EXPECT_EQ(deliver(20, "z"), 1);
  EXPECT_EQ(deliver(6, "old"), 0);  // older than the buffer remembers
  EXPECT_EQ(serf.stats().user_events_duplicate, 1u);
  EXPECT_EQ(serf.stats().user_events_too_old, 1u);
  EXPECT_GE(serf.event_clock(), LamportTime(21));
}

TEST(Serf, TagUpdatesPropagate) {
  auto c = make_serf_cluster(3, 15);
  c.join_all_to(0);
  c.run_for(Duration::seconds(10));
  ASSERT_TRUE(c.act(1, [&](Serf& n) {
    return n.set_tags(c.now(), {{"role", "node"}, {"build", "1.2.3"}});
  }));
  c.run_for(Duration::seconds(5));
  EXPECT_EQ(c.node(0).members().at("n1").tags.at("build"), "1.2.3");
  EXPECT_EQ(c.node(2).members().at("n1").tags.at("build"), "1.2.3");
  Tags huge;
  huge["blob"] = std::string(600, 'x');
  EXPECT_FALSE(c.act(1, [&](Serf& n) { return n.set_tags(c.now(), huge); }));
}

TEST(Serf, NameConflictIsReported) {
  // Two nodes both named "n1" at different addresses.
  Cluster<Serf> c({.nodes = 3, .seed = 16}, [](std::size_t i) {
    return SerfConfig::local(i == 2 ? std::string("n1") : node_name(i), node_address(i));
  });
  std::vector<Recorded> log;
  c.on_event = [&](std::size_t i, Instant at, const SerfEvent& e) { log.push_back({i, at, e}); };
  c.join(1, 0);
  c.run_for(Duration::seconds(3));
  c.join(2, 0);
  c.run_for(Duration::seconds(5));
  bool seen = false;
  for (const Recorded& r : log) {
    if (r.event.kind == SerfEventKind::kNameConflict) seen = true;
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(c.node(0).members().at("n1").address, node_address(1));
  EXPECT_GT(c.node(0).swim().stats().conflicts, 0u);
}

TEST(Serf, IsolatedNodeReconnectsAndRecoversItsHealth) {
  auto c = make_serf_cluster(4, 17);
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  for (std::size_t j = 1; j < 4; ++j) c.block(0, j);  // node 0 can hear but not speak
  const int max_score = c.node(0).swim().config().awareness_max_multiplier - 1;
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(60),
                               [&] { return c.node(0).swim().awareness().score() == max_score; }));
  c.run_for(Duration::seconds(30));  // long enough for both sides to give up on each other
  EXPECT_EQ(c.node(1).members().at("n0").status, SerfStatus::kFailed);
  c.heal();
  // Serf's reconnect (SWIM alone forgets dead members) brings the sides back together.
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(60), [&] {
    for (std::size_t i = 0; i < 4; ++i) {
      for (const auto& [name, m] : c.node(i).members()) {
        if (m.status != SerfStatus::kAlive) return false;
      }
      if (c.node(i).members().size() != 4) return false;
    }
    return true;
  }));
  c.run_for(Duration::seconds(30));
  EXPECT_LT(c.node(0).swim().awareness().score(), max_score);
  EXPECT_GT(c.node(0).stats().reconnect_attempts + c.node(1).stats().reconnect_attempts +
                c.node(2).stats().reconnect_attempts + c.node(3).stats().reconnect_attempts,
            0u);
}

TEST(Serf, WanPoolNamesCarryTheDatacenter) {
  NullLogger logger;
  Serf serf(SerfConfig::wan("server1.dc1", {"10.0.0.1", 8302}), Rng(1), logger);
  EXPECT_TRUE(serf.members().contains("server1.dc1"));
  EXPECT_EQ(serf.swim().config().probe_interval, Duration::seconds(5));
  serf.check_invariants();
}

}  // namespace
}  // namespace praetor::gossip
