// SWIM and Lifeguard rules, one at a time: direct packets into one Swim, or a small driven
// cluster where the rule needs a network.
#include "core/gossip/swim.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/gossip/codec.hpp"
#include "core/gossip/format.hpp"
#include "tests/core/gossip/cluster.hpp"

namespace praetor::gossip {
namespace {

using testing::Cluster;
using testing::node_address;
using testing::node_name;

Instant at_ms(std::int64_t ms) { return Instant::zero() + Duration::milliseconds(ms); }

std::vector<Message> decode_all(const OutboundPacket& p) {
  auto r = decode_packet(p.bytes, kMaxStreamBytes);
  EXPECT_TRUE(r);
  return r ? *r : std::vector<Message>{};
}

template <typename T>
bool contains(const std::vector<Message>& messages, const std::function<bool(const T&)>& pred) {
  return std::any_of(messages.begin(), messages.end(), [&](const Message& m) {
    const T* t = std::get_if<T>(&m);
    return t != nullptr && pred(*t);
  });
}

struct Single {
  NullLogger logger;
  Swim swim{Config::lan("a", node_address(0)), Rng(7), logger};

  void inject(Instant now, const Message& m, const Address& from = node_address(1)) {
    swim.step(now, from, encode_packet(m));
    swim.check_invariants();
  }
  void add(Instant now, const std::string& name, const Address& address, std::uint32_t inc = 1) {
    inject(now, Alive{Incarnation(inc), name, address, {}});
  }
};

Cluster<Swim> make_swim_cluster(std::size_t n, std::uint64_t seed) {
  return Cluster<Swim>({.nodes = n, .seed = seed},
                       [](std::size_t i) { return Config::lan(node_name(i), node_address(i)); });
}

TEST(Swim, AnswersPingWithAckToSender) {
  Single s;
  s.inject(at_ms(1), Ping{42, "a"});
  auto out = s.swim.take_output();
  ASSERT_EQ(out.packets.size(), 1u);
  EXPECT_EQ(out.packets[0].to, node_address(1));
  EXPECT_TRUE(contains<Ack>(decode_all(out.packets[0]), [](const Ack& a) { return a.seq == 42; }));
  // A ping for another name (an address reused by a new node) is ignored.
  s.inject(at_ms(2), Ping{43, "someone-else"});
  EXPECT_TRUE(s.swim.take_output().packets.empty());
  EXPECT_EQ(s.swim.stats().rejected_messages, 1u);
}

TEST(Swim, ProbeAckKeepsMembersAliveAndHealthy) {
  auto c = make_swim_cluster(2, 1);
  c.join(1, 0);
  c.run_for(Duration::seconds(20));
  for (std::size_t i = 0; i < 2; ++i) {
    const Swim& s = c.node(i);
    EXPECT_GE(s.stats().acks_received, 15u);
    EXPECT_EQ(s.stats().probe_failures, 0u);
    EXPECT_EQ(s.awareness().score(), 0);
    EXPECT_EQ(s.members().at(node_name(1 - i)).state, MemberState::kAlive);
  }
}

TEST(Swim, IndirectProbeSucceedsWhenTheDirectPathIsBroken) {
  auto c = make_swim_cluster(3, 2);
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  c.block(0, 1);
  c.block(1, 0);
  c.run_for(Duration::seconds(60));
  const Swim& a = c.node(0);
  EXPECT_GT(a.stats().indirect_probes_sent, 0u);
  EXPECT_EQ(a.stats().suspicions_raised, 0u);
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(c.node(i).members().at(node_name(j)).state, MemberState::kAlive) << i << j;
    }
  }
}

TEST(Swim, SuspicionLeadsToDeathWithinTheTimeoutBounds) {
  auto c = make_swim_cluster(4, 3);
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  std::map<std::size_t, Instant> suspected, dead;
  c.after_input = [&](std::size_t i) {
    const Member* m = c.node(i).members().find(node_name(3));
    if (m == nullptr) return;
    if (m->state == MemberState::kSuspect && !suspected.contains(i)) suspected[i] = c.now();
    if (m->state == MemberState::kDead && !dead.contains(i)) dead[i] = c.now();
  };
  const Instant crash = c.now();
  c.crash(3);
  c.run_for(Duration::seconds(60));
  const Config& cfg = c.node(0).config();
  const Duration min = suspicion_timeout(cfg.suspicion_mult, 4, cfg.probe_interval);
  const Duration max = min * cfg.suspicion_max_timeout_mult;
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(dead.contains(i)) << i;
    EXPECT_GT(dead[i], crash);
  }
  // The first to declare death waited at least min after the first suspicion, at most max.
  Instant first_suspect = Instant::never(), first_dead = Instant::never();
  for (auto& [i, t] : suspected) first_suspect = std::min(first_suspect, t);
  for (auto& [i, t] : dead) first_dead = std::min(first_dead, t);
  EXPECT_GE(first_dead - first_suspect, min);
  EXPECT_LE(first_dead - first_suspect, max);
}

TEST(Swim, RefutesSuspicionWithAHigherIncarnation) {
  Single s;
  s.add(at_ms(1), "b", node_address(1));
  const Incarnation before = s.swim.self().incarnation;
  s.inject(at_ms(2), Suspect{before, "a", "b"});
  EXPECT_GT(s.swim.self().incarnation, before);
  EXPECT_EQ(s.swim.self().state, MemberState::kAlive);
  EXPECT_EQ(s.swim.stats().refutes, 1u);
  EXPECT_EQ(s.swim.awareness().score(), 1);  // being accused counts against our health
  // The refutation rides on the next packet.
  s.swim.take_output();
  s.inject(at_ms(3), Ping{1, "a"});
  auto out = s.swim.take_output();
  ASSERT_FALSE(out.packets.empty());
  const Incarnation now_inc = s.swim.self().incarnation;
  EXPECT_TRUE(contains<Alive>(decode_all(out.packets[0]), [&](const Alive& a) {
    return a.node == "a" && a.incarnation == now_inc;
  }));
  // A dead message with an even higher incarnation is refuted past it.
  s.inject(at_ms(4), Dead{Incarnation(now_inc.value() + 5), "a", "b"});
  EXPECT_GT(s.swim.self().incarnation.value(), now_inc.value() + 5);
  EXPECT_EQ(s.swim.self().state, MemberState::kAlive);
}

TEST(Swim, AliveRequiresAHigherIncarnationAndSuspicionNeedsAtLeastEqual) {
  Single s;
  s.add(at_ms(1), "b", node_address(1), 5);
  s.inject(at_ms(2), Suspect{Incarnation(4), "b", "c"});  // stale
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kAlive);
  s.inject(at_ms(3), Suspect{Incarnation(5), "b", "c"});
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kSuspect);
  s.inject(at_ms(4), Alive{Incarnation(5), "b", node_address(1), {}});  // not newer
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kSuspect);
  s.inject(at_ms(5), Alive{Incarnation(6), "b", node_address(1), {}});
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kAlive);
  s.inject(at_ms(6), Dead{Incarnation(6), "b", "c"});
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kDead);
  s.inject(at_ms(7), Alive{Incarnation(6), "b", node_address(1), {}});
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kDead);
}

TEST(Swim, IndependentConfirmationsShortenTheSuspicion) {
  Single s;
  for (int i = 1; i <= 9; ++i)
    s.add(at_ms(1), node_name(static_cast<std::size_t>(i)),
          node_address(static_cast<std::size_t>(i)));
  s.inject(at_ms(10), Suspect{Incarnation(1), "n1", "n2"});
  const Duration min = suspicion_timeout(4, 10, Duration::seconds(1));
  s.inject(at_ms(20), Suspect{Incarnation(1), "n1", "n3"});
  s.inject(at_ms(30), Suspect{Incarnation(1), "n1", "n3"});  // duplicate witness
  s.inject(at_ms(40), Suspect{Incarnation(1), "n1", "n4"});
  EXPECT_EQ(s.swim.stats().suspicion_confirmations, 2u);
  // Drive the clock without the network: n1 must be dead by start + min (k = 2 reached).
  Instant t = at_ms(40);
  while (s.swim.members().at("n1").state == MemberState::kSuspect && t < at_ms(60000)) {
    t = t + Duration::milliseconds(100);
    s.swim.advance_time(t);
    s.swim.take_output();
  }
  EXPECT_EQ(s.swim.members().at("n1").state, MemberState::kDead);
  EXPECT_LE(t, at_ms(10) + min + Duration::milliseconds(100));
  EXPECT_GE(t, at_ms(10) + min);
}

TEST(Swim, BuddySystemTellsTheSuspectWhenProbing) {
  Single s;
  s.add(at_ms(1), "b", node_address(1));
  s.inject(at_ms(2), Suspect{Incarnation(1), "b", "c"});
  bool saw = false;
  for (int ms = 3; ms < 3000 && !saw; ms += 10) {
    s.swim.advance_time(at_ms(ms));
    for (const OutboundPacket& p : s.swim.take_output().packets) {
      if (p.to != node_address(1)) continue;
      const auto messages = decode_all(p);
      if (contains<Ping>(messages, [](const Ping&) { return true; })) {
        saw = contains<Suspect>(messages, [](const Suspect& m) { return m.node == "b"; });
        EXPECT_TRUE(saw);
      }
    }
  }
  EXPECT_TRUE(saw);
}

TEST(Swim, RelaysNackWhenTheTargetStaysSilent) {
  // A relay nacks one probe timeout after the indirect ping reaches it, and the prober sends
  // indirect pings one probe timeout into its round. With memberlist's defaults (timeout = half
  // the interval) the nack lands just after the round's deadline unless low health has
  // stretched it, exactly as in memberlist; a 300 ms timeout leaves the nack time to count.
  auto c = Cluster<Swim>({.nodes = 3, .seed = 4}, [](std::size_t i) {
    Config cfg = Config::lan(node_name(i), node_address(i));
    cfg.probe_timeout = Duration::milliseconds(300);
    return cfg;
  });
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  c.crash(2);
  c.run_for(Duration::seconds(20));
  const Swim& a = c.node(0);
  const Swim& b = c.node(1);
  EXPECT_GT(a.stats().nacks_received + b.stats().nacks_received, 0u);
  EXPECT_GT(a.stats().nacks_sent + b.stats().nacks_sent, 0u);
  // Nacks prove the prober's own path works: failed probes of a dead node cost no health.
  EXPECT_GT(a.stats().probe_failures, 0u);
  EXPECT_EQ(a.awareness().score(), 0);
  EXPECT_EQ(b.awareness().score(), 0);
}

TEST(Swim, IsolatedNodeLosesHealthAndSlowsItsProbes) {
  auto c = make_swim_cluster(4, 5);
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  for (std::size_t j = 1; j < 4; ++j) c.block(0, j);  // node 0 can hear but not speak
  const Swim& a = c.node(0);
  // Each failed probe (missed nacks, or no relays at all once everyone looks suspect) and the
  // refutation of its own suspicion raise the score until it saturates.
  const int max_score = a.config().awareness_max_multiplier - 1;
  ASSERT_TRUE(c.run_until_true(c.now() + Duration::seconds(40),
                               [&] { return a.awareness().score() == max_score; }));
  EXPECT_EQ(a.awareness().multiplier(), 8);
  EXPECT_EQ(a.stats().acks_received, 5u);  // the ones from before the isolation
  // Scaled probe rounds last 8 s instead of 1 s.
  const auto probes_before = a.stats().probes;
  c.run_for(Duration::seconds(16));
  EXPECT_LE(a.stats().probes - probes_before, 3u);
  EXPECT_GE(a.stats().probes - probes_before, 1u);
}

TEST(Swim, AddressConflictIsReportedAndIgnored) {
  Single s;
  s.add(at_ms(1), "b", node_address(1));
  s.swim.take_output();
  s.inject(at_ms(2), Alive{Incarnation(9), "b", node_address(7), {}}, node_address(7));
  auto out = s.swim.take_output();
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].kind, MemberEventKind::kConflict);
  EXPECT_EQ(out.events[0].conflicting_address, node_address(7));
  EXPECT_EQ(s.swim.members().at("b").address(), node_address(1));
  EXPECT_EQ(s.swim.members().at("b").incarnation, Incarnation(1));
  EXPECT_EQ(s.swim.stats().conflicts, 1u);
  // Someone claiming our own name is a conflict too, not a refutation trigger.
  s.inject(at_ms(3), Alive{Incarnation(9), "a", node_address(8), {}}, node_address(8));
  EXPECT_EQ(s.swim.stats().conflicts, 2u);
  EXPECT_EQ(s.swim.self().address(), node_address(0));
}

TEST(Swim, MalformedAndOversizedPacketsAreCountedNotTrusted) {
  Single s;
  s.swim.step(at_ms(1), node_address(1), Bytes{1, 2, 3});
  s.swim.step(at_ms(1), node_address(1), Bytes(5000, 0));
  Bytes forged = encode_packet(Alive{Incarnation(3), "", node_address(1), {}});
  s.swim.step(at_ms(1), node_address(1), forged);
  EXPECT_EQ(s.swim.stats().malformed_packets, 1u);
  EXPECT_EQ(s.swim.stats().oversized_packets, 1u);
  EXPECT_EQ(s.swim.stats().rejected_messages, 1u);
  EXPECT_EQ(s.swim.members().size(), 1u);
  s.swim.check_invariants();
}

TEST(Swim, UnsolicitedPushPullResponsesAreRefused) {
  Single s;
  PushPull pp;
  pp.response = true;
  pp.nodes.push_back(
      PushNodeState{"evil", node_address(9), {}, Incarnation(1), MemberState::kAlive});
  s.swim.step(at_ms(1), node_address(9), encode_packet(pp), Transport::kStream);
  EXPECT_FALSE(s.swim.members().contains("evil"));
  EXPECT_EQ(s.swim.stats().push_pulls_refused, 1u);
}

TEST(Swim, PushPullRequestIsAnsweredAndMerged) {
  Single s;
  PushPull pp;
  pp.join = true;
  pp.nodes.push_back(PushNodeState{"b", node_address(1), {}, Incarnation(2), MemberState::kAlive});
  pp.nodes.push_back(PushNodeState{"c", node_address(2), {}, Incarnation(1), MemberState::kDead});
  s.swim.step(at_ms(1), node_address(1), encode_packet(pp), Transport::kStream);
  auto out = s.swim.take_output();
  ASSERT_EQ(out.packets.size(), 1u);
  EXPECT_EQ(out.packets[0].transport, Transport::kStream);
  auto reply = decode_all(out.packets[0]);
  ASSERT_EQ(reply.size(), 1u);
  const auto& state = std::get<PushPull>(reply[0]);
  EXPECT_TRUE(state.response);
  EXPECT_EQ(state.nodes.size(), 1u);  // our state from before the merge: only us
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kAlive);
  // "c" was unknown, so the remote's belief in its death cannot create it.
  EXPECT_FALSE(s.swim.members().contains("c"));
}

TEST(Swim, AssumedMembersAreAliveWithoutNewsToSpread) {
  Single s;
  const std::size_t queued_before = s.swim.broadcast_queue_size();  // our own announcement
  (void)s.swim.take_output();                                       // and our own join event
  s.swim.assume_members(
      at_ms(1), {PushNodeState{"b", node_address(1), Bytes{7}, Incarnation(3), MemberState::kAlive},
                 PushNodeState{"c", node_address(2), {}, Incarnation(1), MemberState::kDead},
                 PushNodeState{"a", node_address(0), {}, Incarnation(0), MemberState::kAlive}});
  s.swim.check_invariants();
  EXPECT_EQ(s.swim.members().at("b").state, MemberState::kAlive);
  EXPECT_EQ(s.swim.members().at("b").incarnation, Incarnation(3));
  EXPECT_EQ(s.swim.members().at("b").meta(), Bytes{7});
  EXPECT_FALSE(s.swim.members().contains("c"));  // only alive members are assumed
  EXPECT_EQ(s.swim.broadcast_queue_size(), queued_before);
  auto out = s.swim.take_output();
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].kind, MemberEventKind::kJoin);
  EXPECT_EQ(out.events[0].member.name(), "b");
  // News after that spreads as usual.
  s.add(at_ms(2), "d", node_address(3));
  EXPECT_EQ(s.swim.broadcast_queue_size(), queued_before + 1);
}

TEST(Swim, PushPullFloodIsCapped) {
  Single s;
  PushPull pp;
  for (std::size_t i = 0; i < 200; ++i) {
    pp.nodes = {PushNodeState{
        node_name(i + 1), node_address(i + 1), {}, Incarnation(1), MemberState::kAlive}};
    s.swim.step(at_ms(1), node_address(i + 1), encode_packet(pp), Transport::kStream);
  }
  EXPECT_EQ(s.swim.stats().push_pulls_served, kMaxPendingPushPulls);
  EXPECT_EQ(s.swim.stats().push_pulls_refused, 200 - kMaxPendingPushPulls);
  EXPECT_EQ(s.swim.take_output().packets.size(), kMaxPendingPushPulls);
  s.swim.check_invariants();
  // The window slides: after a stream timeout, requests are served again.
  s.swim.step(at_ms(1) + s.swim.config().stream_timeout, node_address(1), encode_packet(pp),
              Transport::kStream);
  EXPECT_EQ(s.swim.stats().push_pulls_served, kMaxPendingPushPulls + 1);
}

TEST(Swim, LeaveBroadcastsOwnDeathAsLeft) {
  auto c = make_swim_cluster(3, 6);
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  c.act(2, [&](auto& n) { n.leave(c.now()); });
  c.run_for(Duration::seconds(5));
  EXPECT_EQ(c.node(0).members().at("n2").state, MemberState::kLeft);
  EXPECT_EQ(c.node(1).members().at("n2").state, MemberState::kLeft);
  EXPECT_EQ(c.node(2).self().state, MemberState::kLeft);
}

TEST(Swim, NextDeadlineIsHonest) {
  auto c = make_swim_cluster(5, 8);
  c.join_all_to(0);
  // Nothing ever fires before the deadline a core reported: advancing to just before it
  // changes nothing observable.
  for (int round = 0; round < 200; ++round) {
    c.run_for(Duration::milliseconds(37));
    for (std::size_t i = 0; i < 5; ++i) EXPECT_GT(c.node(i).next_deadline(), c.now());
  }
}

}  // namespace
}  // namespace praetor::gossip
