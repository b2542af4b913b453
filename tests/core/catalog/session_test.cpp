// Sessions, locks and their invalidation: the session table against a fake catalog, and the
// Fsm's lock rules, destroy behaviours and lock-delays (consul-compat §3.5, §3.6).
#include "core/catalog/session.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

// A catalog with the nodes and checks a test gives it.
class FakeFacts final : public CatalogFacts {
 public:
  bool node_exists(const std::string& node) const override { return nodes.contains(node); }
  std::optional<HealthStatus> check_status(const std::string& node,
                                           const std::string& check) const override {
    auto it = checks.find({node, check});
    if (it == checks.end()) return std::nullopt;
    return it->second;
  }
  std::set<std::string> nodes;
  std::map<std::pair<std::string, std::string>, HealthStatus> checks;
};

SessionDef def(std::string id, std::string node = "n1") {
  SessionDef d;
  d.id = std::move(id);
  d.node = std::move(node);
  d.node_checks = {"serfHealth"};
  return d;
}

FakeFacts facts() {
  FakeFacts f;
  f.nodes = {"n1", "n2"};
  f.checks[{"n1", "serfHealth"}] = HealthStatus::kPassing;
  f.checks[{"n2", "serfHealth"}] = HealthStatus::kPassing;
  f.checks[{"n1", "web"}] = HealthStatus::kWarning;
  f.checks[{"n1", "db"}] = HealthStatus::kCritical;
  return f;
}

TEST(SessionTable, CreateRecordsIndexesAndIndexesByNode) {
  SessionTable t;
  ASSERT_TRUE(t.create(3, def("b"), facts()));
  ASSERT_TRUE(t.create(4, def("a"), facts()));
  ASSERT_TRUE(t.create(5, def("c", "n2"), facts()));
  EXPECT_EQ(t.get("a")->create_index, 4u);
  EXPECT_EQ(t.get("a")->modify_index, 4u);
  EXPECT_EQ(t.index(), 5u);
  EXPECT_EQ(t.of_node("n1"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(t.of_node("n3").empty());
  t.check_invariants();
}

TEST(SessionTable, CreateRefusesWithConsulsTextsAndChangesNothing) {
  SessionTable t;
  ASSERT_TRUE(t.create(2, def("a"), facts()));
  auto dup = t.create(3, def("a"), facts());
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().message, "Session ID 'a' already exists");
  auto no_node = t.create(3, def("b", "ghost"), facts());
  ASSERT_FALSE(no_node);
  EXPECT_EQ(no_node.error().message, "Missing node registration");
  SessionDef missing = def("b");
  missing.service_checks = {"nope"};
  EXPECT_EQ(t.create(3, missing, facts()).error().message, "Missing check 'nope' registration");
  SessionDef critical = def("b");
  critical.node_checks = {"serfHealth", "db"};
  EXPECT_EQ(t.create(3, critical, facts()).error().message, "Check 'db' is in critical state");
  EXPECT_EQ(t.index(), 2u);
  EXPECT_EQ(t.all().size(), 1u);
  // A warning check is fine, and an explicit empty list binds to no check at all.
  SessionDef warning = def("w");
  warning.node_checks = {"web"};
  EXPECT_TRUE(t.create(4, warning, facts()));
  SessionDef none = def("z");
  none.node_checks.clear();
  EXPECT_TRUE(t.create(5, none, facts()));
}

TEST(SessionTable, InvalidationFindsSessionsByCheckAndNode) {
  SessionTable t;
  SessionDef web = def("s1");
  web.service_checks = {"web"};
  ASSERT_TRUE(t.create(2, web, facts()));
  ASSERT_TRUE(t.create(3, def("s2"), facts()));
  ASSERT_TRUE(t.create(4, def("s3", "n2"), facts()));
  EXPECT_EQ(t.using_check("n1", "web"), (std::vector<std::string>{"s1"}));
  EXPECT_EQ(t.using_check("n1", "serfHealth"), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_TRUE(t.using_check("n2", "web").empty());
  EXPECT_EQ(t.of_node("n2"), (std::vector<std::string>{"s3"}));
  ASSERT_TRUE(t.remove(5, "s1"));
  EXPECT_FALSE(t.remove(6, "s1"));
  EXPECT_EQ(t.index(), 5u);
  EXPECT_EQ(t.using_check("n1", "web"), std::vector<std::string>{});
  t.check_invariants();
}

TEST(SessionRequest, TtlMustBeNoneOrWithinRange) {
  SessionDef d = def("a");
  EXPECT_TRUE(validate_session_request(d, Duration::seconds(10)));
  d.ttl = "0s";  // zero is none
  EXPECT_TRUE(validate_session_request(d, Duration::seconds(10)));
  d.ttl = "15.0s";
  EXPECT_TRUE(validate_session_request(d, Duration::seconds(10)));
  d.ttl = "5s";
  auto low = validate_session_request(d, Duration::seconds(10));
  ASSERT_FALSE(low);
  EXPECT_EQ(low.error().message, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
  d.ttl = "25h";
  EXPECT_FALSE(validate_session_request(d, Duration::seconds(10)));
  d.ttl = "5s";
  EXPECT_TRUE(validate_session_request(d, Duration::seconds(1)));  // the minimum is config
  d.ttl = "soon";
  auto bad = validate_session_request(d, Duration::seconds(10));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("Session TTL 'soon' invalid")) << bad.error().message;
  d.ttl = "";
  d.node = "";
  EXPECT_EQ(validate_session_request(d, Duration::seconds(10)).error().message,
            "Must provide Node");
}

// ---- The Fsm: locks, destroy, lock-delay ------------------------------------------------------

struct FsmFixture : ::testing::Test {
  // Sessions need their node and its checks in the catalog: n1 with a passing serfHealth and a
  // service web with a passing check.
  void SetUp() override { ASSERT_TRUE(apply(node_n1(HealthStatus::kPassing)).success); }
  static Register node_n1(HealthStatus serf) {
    Register r;
    r.node = NodeDef{"", "n1", "10.0.0.1", "", {}, {}};
    r.service = ServiceDef{"web", "web", {}, "", 80, {}, 1, 1, false};
    r.checks = {
        CheckDef{"n1", "serfHealth", "Serf Health Status", serf, "", "", "", "", "", ""},
        CheckDef{"n1", "web-alive", "web", HealthStatus::kPassing, "", "", "web", "", "", ""}};
    return r;
  }
  ApplyResult apply(Command c, Instant now = Instant::zero()) {
    return fsm.apply_command(LogIndex(++index), c, now);
  }
  void create(const std::string& id, SessionBehavior behavior = SessionBehavior::kRelease,
              std::int64_t lock_delay_ns = 15'000'000'000) {
    SessionDef d = def(id);
    d.behavior = behavior;
    d.lock_delay_ns = lock_delay_ns;
    ASSERT_EQ(apply(SessionCreate{d}), ApplyResult{});
  }
  const KvEntry& entry(const std::string& key) {
    const KvEntry* e = fsm.kv().get(key);
    PRAETOR_ASSERT(e != nullptr);
    return *e;
  }
  Fsm fsm;
  std::uint64_t index = 0;
};

TEST_F(FsmFixture, AcquireNeedsALiveSession) {
  auto r = apply(KvLock{"k", to_bytes("v"), 0, "nope"});
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.error, "invalid session \"nope\"");
  EXPECT_EQ(fsm.kv().get("k"), nullptr);
  EXPECT_EQ(fsm.kv().index(), 0u);
}

TEST_F(FsmFixture, LockRules) {
  create("s1");
  create("s2");
  ASSERT_TRUE(apply(KvLock{"k", to_bytes("a"), 1, "s1"}).success);
  EXPECT_EQ(entry("k").lock_index, 1u);
  EXPECT_EQ(entry("k").session, "s1");
  const std::uint64_t created = entry("k").create_index;
  // The same session again: value and flags change, LockIndex does not.
  ASSERT_TRUE(apply(KvLock{"k", to_bytes("b"), 2, "s1"}).success);
  EXPECT_EQ(entry("k").lock_index, 1u);
  EXPECT_EQ(to_string(entry("k").value), "b");
  EXPECT_EQ(entry("k").flags, 2u);
  EXPECT_EQ(entry("k").modify_index, index);
  EXPECT_EQ(entry("k").create_index, created);
  // Another session: refused, nothing changes.
  const KvEntry before = entry("k");
  EXPECT_FALSE(apply(KvLock{"k", to_bytes("c"), 3, "s2"}).success);
  EXPECT_EQ(entry("k"), before);
  // Release by the wrong session: false; by the holder: Session cleared, LockIndex kept.
  EXPECT_FALSE(apply(KvUnlock{"k", to_bytes("d"), 0, "s2"}).success);
  EXPECT_FALSE(apply(KvUnlock{"missing", {}, 0, "s1"}).success);
  ASSERT_TRUE(apply(KvUnlock{"k", to_bytes("e"), 4, "s1"}).success);
  EXPECT_EQ(entry("k").session, "");
  EXPECT_EQ(entry("k").lock_index, 1u);
  EXPECT_EQ(to_string(entry("k").value), "e");
  // A new holder raises LockIndex.
  ASSERT_TRUE(apply(KvLock{"k", to_bytes("f"), 0, "s2"}).success);
  EXPECT_EQ(entry("k").lock_index, 2u);
  // A plain set keeps the lock.
  apply(KvSet{"k", to_bytes("g"), 0});
  EXPECT_EQ(entry("k").session, "s2");
  fsm.check_invariants();
}

TEST_F(FsmFixture, DestroyReleasesKeysAndDatesTheirLockDelay) {
  create("s1", SessionBehavior::kRelease, 15'000'000'000);
  ASSERT_TRUE(apply(KvLock{"a", to_bytes("1"), 0, "s1"}).success);
  ASSERT_TRUE(apply(KvLock{"b", to_bytes("2"), 0, "s1"}).success);
  apply(KvSet{"c", to_bytes("3"), 0});
  const Instant now = Instant::from_ns(100'000'000'000);
  ASSERT_TRUE(apply(SessionDestroy{"s1"}, now).success);
  EXPECT_EQ(fsm.sessions().get("s1"), nullptr);
  EXPECT_EQ(entry("a").session, "");
  EXPECT_EQ(entry("a").lock_index, 1u);
  EXPECT_EQ(entry("a").modify_index, index);
  EXPECT_EQ(to_string(entry("b").value), "2");
  EXPECT_EQ(fsm.kv().index(), index);
  EXPECT_EQ(fsm.sessions().index(), index);
  EXPECT_EQ(fsm.lock_delay_until("a"), now + Duration::seconds(15));
  EXPECT_EQ(fsm.lock_delay_until("b"), now + Duration::seconds(15));
  EXPECT_EQ(fsm.lock_delay_until("c"), Instant::zero());  // never held
  // Destroying it again is a no-op that succeeds.
  EXPECT_TRUE(apply(SessionDestroy{"s1"}, now).success);
  fsm.check_invariants();
}

TEST_F(FsmFixture, AnExplicitReleaseLeavesNoLockDelay) {
  create("s1");
  ASSERT_TRUE(apply(KvLock{"a", {}, 0, "s1"}).success);
  ASSERT_TRUE(apply(KvUnlock{"a", {}, 0, "s1"}).success);
  ASSERT_TRUE(apply(SessionDestroy{"s1"}, Instant::from_ns(5)).success);
  EXPECT_EQ(fsm.lock_delay_until("a"), Instant::zero());
}

TEST_F(FsmFixture, BehaviorDeleteDeletesHeldKeysAndLockDelayIsCappedAt60s) {
  create("s1", SessionBehavior::kDelete, Duration::seconds(90).count_ns());
  ASSERT_TRUE(apply(KvLock{"a", {}, 0, "s1"}).success);
  apply(KvSet{"b", {}, 0});
  const Instant now = Instant::from_ns(1'000);
  ASSERT_TRUE(apply(SessionDestroy{"s1"}, now).success);
  EXPECT_EQ(fsm.kv().get("a"), nullptr);
  EXPECT_NE(fsm.kv().get("b"), nullptr);
  EXPECT_EQ(fsm.lock_delay_until("a"), now + Duration::seconds(60));
}

TEST_F(FsmFixture, ZeroLockDelayLeavesNoDelay) {
  create("s1", SessionBehavior::kRelease, 0);
  ASSERT_TRUE(apply(KvLock{"a", {}, 0, "s1"}).success);
  ASSERT_TRUE(apply(SessionDestroy{"s1"}, Instant::from_ns(7)).success);
  EXPECT_EQ(fsm.lock_delay_until("a"), Instant::zero());
}

TEST_F(FsmFixture, InvalidationEntryPointsDestroyTheSessionsAnEventBreaks) {
  create("s1");
  create("s2");
  ASSERT_TRUE(apply(KvLock{"a", {}, 0, "s1"}).success);
  // The entry points run inside the apply of a catalog command at its index; a Noop stands in.
  apply(Noop{});
  // A check none of them uses: nothing happens.
  EXPECT_TRUE(fsm.invalidate_sessions_for_check(index, "n1", "web", Instant::zero()).empty());
  apply(Noop{});
  auto gone = fsm.invalidate_sessions_for_check(index, "n1", "serfHealth", Instant::from_ns(9));
  EXPECT_EQ(gone, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(entry("a").session, "");
  EXPECT_EQ(fsm.lock_delay_until("a"), Instant::from_ns(9) + Duration::seconds(15));
  create("s3");
  apply(Noop{});
  EXPECT_EQ(fsm.invalidate_sessions_for_node(index, "n1", Instant::zero()),
            std::vector<std::string>{"s3"});
  EXPECT_TRUE(fsm.sessions().all().empty());
  fsm.check_invariants();
}

// The catalog decides which sessions may exist and when they end (Consul's rules): a session
// needs its node and its checks, none critical; a check going critical or being removed, or the
// node being deregistered, invalidates it in the same apply, releasing (with lock-delay) or
// deleting what it holds.
TEST_F(FsmFixture, TheCatalogDecidesWhichSessionsLive) {
  EXPECT_EQ(apply(SessionCreate{def("s0", "no-such-node")}).error, "Missing node registration");
  SessionDef with_web = def("s1");
  with_web.service_checks = {"web-alive"};
  ASSERT_EQ(apply(SessionCreate{with_web}), ApplyResult{});
  SessionDef missing = def("s2");
  missing.service_checks = {"nope"};
  EXPECT_EQ(apply(SessionCreate{missing}).error, "Missing check 'nope' registration");
  create("s3");
  ASSERT_TRUE(apply(KvLock{"leader", to_bytes("pg0"), 0, "s1"}).success);
  ASSERT_TRUE(apply(KvLock{"other", to_bytes("x"), 0, "s3"}).success);

  // web-alive goes critical: s1 (which names it) ends, its lock is released with a lock-delay;
  // s3 (serfHealth only) lives on.
  Register flap = node_n1(HealthStatus::kPassing);
  flap.checks[1].status = HealthStatus::kCritical;
  ASSERT_TRUE(apply(flap, Instant::from_ns(100)).success);
  EXPECT_EQ(fsm.sessions().get("s1"), nullptr);
  EXPECT_NE(fsm.sessions().get("s3"), nullptr);
  EXPECT_EQ(entry("leader").session, "");
  EXPECT_EQ(fsm.lock_delay_until("leader"), Instant::from_ns(100) + Duration::seconds(15));
  // A session cannot name a critical check.
  EXPECT_EQ(apply(SessionCreate{with_web}).error, "Check 'web-alive' is in critical state");

  // serfHealth critical (the member failed in gossip): s3 ends.
  ASSERT_TRUE(apply(node_n1(HealthStatus::kCritical)).success);
  EXPECT_EQ(fsm.sessions().get("s3"), nullptr);
  EXPECT_EQ(entry("other").session, "");

  // A deregistered node takes its sessions with it.
  ASSERT_TRUE(apply(node_n1(HealthStatus::kPassing)).success);
  create("s4");
  ASSERT_TRUE(apply(Deregister{"n1", "", ""}).success);
  EXPECT_TRUE(fsm.sessions().all().empty());
  fsm.check_invariants();
}

TEST_F(FsmFixture, SnapshotCarriesSessionsAndHeldLocksButNotLockDelays) {
  create("s1");
  create("s2", SessionBehavior::kDelete);
  ASSERT_TRUE(apply(KvLock{"a", to_bytes("1"), 0, "s1"}).success);
  ASSERT_TRUE(apply(KvLock{"b", to_bytes("1"), 0, "s2"}).success);
  ASSERT_TRUE(apply(SessionDestroy{"s2"}, Instant::from_ns(50)).success);
  Fsm restored;
  ASSERT_TRUE(restored.restore(fsm.snapshot()));
  EXPECT_EQ(restored.sessions().all(), fsm.sessions().all());
  EXPECT_EQ(restored.sessions().index(), fsm.sessions().index());
  EXPECT_EQ(restored.kv().entries(), fsm.kv().entries());
  EXPECT_EQ(restored.kv().held_by("s1"), std::vector<std::string>{"a"});
  EXPECT_EQ(restored.lock_delay_until("b"), Instant::zero());
  restored.check_invariants();
}

}  // namespace
}  // namespace praetor::catalog
