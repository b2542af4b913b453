// Pure helpers of SWIM/Lifeguard, tested alone against memberlist's documented numbers.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/gossip/awareness.hpp"
#include "core/gossip/broadcast_queue.hpp"
#include "core/gossip/codec.hpp"
#include "core/gossip/config.hpp"
#include "core/gossip/lamport.hpp"
#include "core/gossip/member.hpp"
#include "core/gossip/suspicion.hpp"

namespace praetor::gossip {
namespace {

TEST(SuspicionTimeout, MatchesMemberlistFormula) {
  const Duration interval = Duration::seconds(1);
  // log10(n) < 1 below ten members: the scale is clamped to 1.
  EXPECT_EQ(suspicion_timeout(4, 0, interval), Duration::seconds(4));
  EXPECT_EQ(suspicion_timeout(4, 1, interval), Duration::seconds(4));
  EXPECT_EQ(suspicion_timeout(4, 5, interval), Duration::seconds(4));
  EXPECT_EQ(suspicion_timeout(4, 10, interval), Duration::seconds(4));
  EXPECT_EQ(suspicion_timeout(4, 100, interval), Duration::seconds(8));
  EXPECT_EQ(suspicion_timeout(4, 1000, interval), Duration::seconds(12));
  // test-matrix G3: N=50 with LAN defaults gives about 6.8 s, and 6x that as the maximum.
  const Duration min50 = suspicion_timeout(4, 50, interval);
  EXPECT_EQ(min50, Duration::milliseconds(6795));
  EXPECT_EQ(min50 * 6, Duration::milliseconds(40770));
  // WAN: mult 6, 5 s probes.
  EXPECT_EQ(suspicion_timeout(6, 3, Duration::seconds(5)), Duration::seconds(30));
}

TEST(SuspicionTimeout, RemainingShrinksWithConfirmations) {
  const Duration min = Duration::seconds(2);
  const Duration max = Duration::seconds(30);
  // memberlist suspicion_test.go expectations: k = 3.
  EXPECT_EQ(remaining_suspicion_time(0, 3, Duration::zero(), min, max), max);
  EXPECT_EQ(remaining_suspicion_time(1, 3, Duration::zero(), min, max),
            Duration::milliseconds(16000));
  EXPECT_EQ(remaining_suspicion_time(2, 3, Duration::zero(), min, max),
            Duration::milliseconds(7810));
  EXPECT_EQ(remaining_suspicion_time(3, 3, Duration::zero(), min, max), min);
  EXPECT_EQ(remaining_suspicion_time(4, 3, Duration::zero(), min, max), min);
  // Elapsed time is subtracted and may overshoot.
  EXPECT_EQ(remaining_suspicion_time(0, 3, Duration::seconds(31), min, max), Duration::seconds(-1));
}

RC_GTEST_PROP(SuspicionTimeout, RemainingIsMonotoneAndBounded, (int k, int c)) {
  const int needed = 1 + (k < 0 ? -k : k) % 10;
  const int confirmations = (c < 0 ? -c : c) % 12;
  const Duration min = Duration::seconds(3);
  const Duration max = Duration::seconds(18);
  const Duration now = remaining_suspicion_time(confirmations, needed, Duration::zero(), min, max);
  const Duration more =
      remaining_suspicion_time(confirmations + 1, needed, Duration::zero(), min, max);
  RC_ASSERT(now >= min);
  RC_ASSERT(now <= max);
  RC_ASSERT(more <= now);
}

TEST(Suspicion, ConfirmationsAreIndependentAndCapped) {
  Suspicion s(Instant::zero(), "accuser", 2, Duration::seconds(3), Duration::seconds(18));
  EXPECT_EQ(s.deadline(), Instant::zero() + Duration::seconds(18));
  EXPECT_FALSE(s.confirm("accuser"));  // the accuser is not a second witness
  EXPECT_TRUE(s.confirm("b"));
  EXPECT_FALSE(s.confirm("b"));
  EXPECT_LT(s.deadline(), Instant::zero() + Duration::seconds(18));
  EXPECT_TRUE(s.confirm("c"));
  EXPECT_EQ(s.deadline(), Instant::zero() + Duration::seconds(3));
  EXPECT_FALSE(s.confirm("d"));  // already at k
  EXPECT_EQ(s.confirmations(), 2);
}

TEST(Suspicion, NoConfirmationsNeededStartsAtMin) {
  Suspicion s(Instant::zero(), "a", 0, Duration::seconds(3), Duration::seconds(18));
  EXPECT_EQ(s.deadline(), Instant::zero() + Duration::seconds(3));
  EXPECT_FALSE(s.confirm("b"));
}

TEST(RetransmitLimit, ScalesWithLogOfClusterSize) {
  EXPECT_EQ(retransmit_limit(4, 0), 0);
  EXPECT_EQ(retransmit_limit(4, 1), 4);
  EXPECT_EQ(retransmit_limit(4, 9), 4);
  EXPECT_EQ(retransmit_limit(4, 10), 8);
  EXPECT_EQ(retransmit_limit(4, 99), 8);
  EXPECT_EQ(retransmit_limit(4, 100), 12);
  EXPECT_EQ(retransmit_limit(2, 50), 4);
}

TEST(PushPullScale, FlatUpTo32ThenLogarithmic) {
  const Duration base = Duration::seconds(30);
  EXPECT_EQ(push_pull_scale(base, 1), base);
  EXPECT_EQ(push_pull_scale(base, 32), base);
  EXPECT_EQ(push_pull_scale(base, 33), base * 2);
  EXPECT_EQ(push_pull_scale(base, 64), base * 2);
  EXPECT_EQ(push_pull_scale(base, 65), base * 3);
  EXPECT_EQ(push_pull_scale(base, 1024), base * 6);
}

TEST(IncarnationPrecedence, SwimRules) {
  const Incarnation i1(1), i2(2);
  using S = MemberState;
  EXPECT_TRUE(claim_overrides(S::kAlive, i2, S::kAlive, i1));
  EXPECT_FALSE(claim_overrides(S::kAlive, i1, S::kAlive, i1));
  EXPECT_TRUE(claim_overrides(S::kAlive, i2, S::kSuspect, i1));
  EXPECT_FALSE(claim_overrides(S::kAlive, i1, S::kSuspect, i1));
  EXPECT_TRUE(claim_overrides(S::kAlive, i2, S::kDead, i1));
  EXPECT_TRUE(claim_overrides(S::kSuspect, i1, S::kAlive, i1));
  EXPECT_FALSE(claim_overrides(S::kSuspect, i1, S::kAlive, i2));
  EXPECT_FALSE(claim_overrides(S::kSuspect, i2, S::kSuspect, i1));  // confirmed, not reset
  EXPECT_FALSE(claim_overrides(S::kSuspect, i2, S::kDead, i1));
  EXPECT_TRUE(claim_overrides(S::kDead, i1, S::kAlive, i1));
  EXPECT_TRUE(claim_overrides(S::kDead, i1, S::kSuspect, i1));
  EXPECT_FALSE(claim_overrides(S::kDead, i1, S::kSuspect, i2));
  EXPECT_FALSE(claim_overrides(S::kDead, i2, S::kDead, i1));
  EXPECT_TRUE(claim_overrides(S::kLeft, i1, S::kAlive, i1));
}

TEST(Awareness, ScoreIsClampedAndScalesTimeouts) {
  Awareness a(8);
  EXPECT_EQ(a.multiplier(), 1);
  EXPECT_EQ(a.scale(Duration::seconds(1)), Duration::seconds(1));
  a.apply_delta(-5);
  EXPECT_EQ(a.score(), 0);
  a.apply_delta(3);
  EXPECT_EQ(a.scale(Duration::seconds(1)), Duration::seconds(4));
  a.apply_delta(100);
  EXPECT_EQ(a.score(), 7);
  EXPECT_EQ(a.multiplier(), 8);
  EXPECT_EQ(scale_by_awareness(Duration::milliseconds(500), 7), Duration::seconds(4));
}

TEST(BroadcastQueue, NewerNewsAboutAMemberReplacesOlder) {
  BroadcastQueue q(10);
  q.push("a", Bytes{1});
  q.push("b", Bytes{2});
  q.push("a", Bytes{3});
  EXPECT_EQ(q.size(), 2u);
  auto taken = q.take(0, 100, 10);
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0], Bytes{3});  // newest first among equals
  EXPECT_EQ(taken[1], Bytes{2});
}

TEST(BroadcastQueue, RetiresAfterTransmitLimitAndRespectsSpace) {
  BroadcastQueue q(10);
  q.push("", Bytes(10, 1));
  q.push("", Bytes(10, 2));
  EXPECT_EQ(q.take(2, 12, 2).size(), 1u);  // only one fits
  EXPECT_EQ(q.take(2, 24, 2).size(), 2u);
  EXPECT_EQ(q.take(2, 24, 2).size(), 1u);  // the first retired after its 2nd transmit
  EXPECT_TRUE(q.take(2, 24, 2).empty());
  EXPECT_TRUE(q.empty());
}

// take_into appends exactly what take would hand out, in the same order, and leaves the queue in
// the same state.
RC_GTEST_PROP(BroadcastQueue, TakeIntoMatchesTake,
              (const std::vector<std::pair<std::uint8_t, std::uint8_t>>& pushes)) {
  BroadcastQueue a(16);
  BroadcastQueue b(16);
  for (const auto& [key, size] : pushes) {
    const std::string k = key % 4 == 0 ? "" : std::string(1, static_cast<char>('a' + key % 8));
    const Bytes message(1 + size % 40, key);
    a.push(k, message);
    b.push(k, message);
  }
  const std::size_t limit = *rc::gen::inRange<std::size_t>(1, 200);
  for (int round = 0; round < 6; ++round) {
    std::vector<Bytes> taken = a.take(0, limit, 3);
    Bytes packet{0xEE};
    const std::size_t n = b.take_into(packet, limit, 3, kMaxMessagesPerPacket);
    RC_ASSERT(n == taken.size());
    Bytes expected{0xEE};
    for (const Bytes& m : taken) expected.insert(expected.end(), m.begin(), m.end());
    RC_ASSERT(packet == expected);
    RC_ASSERT(a.size() == b.size());
    a.check_invariants();
    b.check_invariants();
  }
}

TEST(BroadcastQueue, TakeIntoStopsAtItsCount) {
  BroadcastQueue q(10);
  for (std::uint8_t i = 0; i < 5; ++i) q.push("", Bytes{i});
  Bytes packet;
  EXPECT_EQ(q.take_into(packet, 100, 10, 2), 2u);
  EXPECT_EQ(packet, (Bytes{4, 3}));  // newest first
  EXPECT_EQ(q.take_into(packet, 100, 10, 10), 5u);
  EXPECT_EQ(packet.size(), 7u);
  EXPECT_EQ(q.size(), 5u);
  q.check_invariants();
}

TEST(BroadcastQueue, BoundedDropsMostTransmitted) {
  BroadcastQueue q(3);
  for (std::uint8_t i = 0; i < 10; ++i) q.push("", Bytes{i});
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 7u);
  q.check_invariants();
}

TEST(LamportClock, WitnessMovesPast) {
  LamportClock c;
  EXPECT_EQ(c.increment(), LamportTime(1));
  c.witness(LamportTime(10));
  EXPECT_EQ(c.time(), LamportTime(11));
  c.witness(LamportTime(3));
  EXPECT_EQ(c.time(), LamportTime(11));
}

TEST(ConfigPresets, MemberlistValues) {
  const Config lan = Config::lan("a", {"10.0.0.1", 8301});
  EXPECT_EQ(lan.probe_interval, Duration::seconds(1));
  EXPECT_EQ(lan.probe_timeout, Duration::milliseconds(500));
  EXPECT_EQ(lan.push_pull_interval, Duration::seconds(30));
  EXPECT_EQ(lan.suspicion_mult, 4);
  EXPECT_EQ(lan.indirect_checks, 3);
  EXPECT_EQ(lan.gossip_interval, Duration::milliseconds(200));
  const Config wan = Config::wan("a.dc1", {"10.0.0.1", 8302});
  EXPECT_EQ(wan.name, "a.dc1");
  EXPECT_EQ(wan.probe_interval, Duration::seconds(5));
  EXPECT_EQ(wan.probe_timeout, Duration::seconds(3));
  EXPECT_EQ(wan.suspicion_mult, 6);
  EXPECT_EQ(wan.push_pull_interval, Duration::seconds(60));
  EXPECT_EQ(wan.gossip_nodes, 4);
  const Config local = Config::local("a", {"127.0.0.1", 8301});
  EXPECT_EQ(local.probe_timeout, Duration::milliseconds(200));
  EXPECT_EQ(local.indirect_checks, 1);
}

TEST(IdentityPool, OneIdPerLiveNameReusedOnlyWhenNobodyHoldsIt) {
  IdentityPool pool;
  const MemberId a = pool.acquire("a");
  const MemberId b = pool.acquire("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(pool.acquire("a"), a);  // a second holder
  EXPECT_EQ(pool.lookup("a"), a);
  pool.release(a);
  EXPECT_EQ(pool.lookup("a"), a);  // still held once
  pool.release(a);
  EXPECT_FALSE(pool.lookup("a"));
  const MemberId c = pool.acquire("c");
  EXPECT_EQ(c, a);  // the free id is reused for another name
  EXPECT_EQ(pool.name(c), "c");
  EXPECT_EQ(pool.id_space(), 2u);
  EXPECT_EQ(pool.live_ids(), 2u);
}

TEST(IdentityPool, AgreeingViewsShareOneIdentityAndTagsAreDecodedOnce) {
  IdentityPool pool;
  const MemberId id = pool.acquire("n1");
  const Bytes meta = encode_tags({{"role", "node"}});
  const IdentityRef x = pool.intern(id, Address{"10.0.0.1", 8301}, meta);
  const IdentityRef y = pool.intern(id, Address{"10.0.0.1", 8301}, meta);
  EXPECT_EQ(x.get(), y.get());
  EXPECT_TRUE(x->tags_valid);
  EXPECT_EQ(x->tags.at("role"), "node");
  const IdentityRef moved = pool.intern(id, Address{"10.0.0.9", 8301}, meta);
  EXPECT_NE(moved.get(), x.get());
  EXPECT_EQ(moved->name, "n1");
  EXPECT_EQ(x->address.host, "10.0.0.1");  // holders of the old identity keep it
  const IdentityRef raw = pool.intern(id, Address{"10.0.0.9", 8301}, to_bytes("not tags"));
  EXPECT_FALSE(raw->tags_valid);
  EXPECT_TRUE(raw->tags.empty());
}

TEST(MemberTable, FindsByNameIteratesInIdOrderAndReleasesIdsOnErase) {
  auto pool = std::make_shared<IdentityPool>();
  MemberTable t(pool);
  MemberTable other(pool);  // a second node sharing the pool
  auto [b, b_id] = t.insert("b", Address{"10.0.0.2", 1}, {}, Member{});
  auto [a, a_id] = t.insert("a", Address{"10.0.0.1", 1}, {}, Member{});
  other.insert("a", Address{"10.0.0.1", 1}, {}, Member{});
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find("a"), a);
  EXPECT_EQ(t.find("zz"), nullptr);
  EXPECT_EQ(other.find("a")->identity.get(), a->identity.get());  // shared across tables
  EXPECT_EQ(other.find("b"), nullptr);  // the id exists in the pool, not in this table
  EXPECT_THROW((void)t.at("zz"), std::out_of_range);
  std::vector<std::string> names;
  for (const auto& [name, m] : t) names.emplace_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"b", "a"}));  // first seen first
  t.erase(b_id);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(pool->lookup("b"));  // nobody holds b any more
  t.erase(a_id);
  EXPECT_TRUE(pool->lookup("a"));  // `other` still holds a
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.begin(), t.end());
}

}  // namespace
}  // namespace praetor::gossip
