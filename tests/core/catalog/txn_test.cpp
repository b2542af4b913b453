// Transactions: each verb's rule and Consul's error texts, all-or-nothing at one index.
#include "core/catalog/txn.hpp"

#include <gtest/gtest.h>

#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

TxnOp op(TxnVerb verb, std::string key, std::string value = "", std::uint64_t index = 0,
         std::string session = "") {
  TxnOp o;
  o.verb = verb;
  o.key = std::move(key);
  o.value = to_bytes(value);
  o.index = index;
  o.session = std::move(session);
  return o;
}

struct TxnFixture : ::testing::Test {
  ApplyResult apply(Command c) { return fsm.apply_command(LogIndex(++index), c); }
  TxnResult txn(std::vector<TxnOp> ops) {
    ApplyResult r = apply(Txn{std::move(ops)});
    PRAETOR_ASSERT(r.txn.has_value());
    PRAETOR_ASSERT(r.success == r.txn->errors.empty());
    return *r.txn;
  }
  // Sessions need their node and its serfHealth check in the catalog.
  void SetUp() override {
    Register r;
    r.node = NodeDef{"", "n1", "10.0.0.1", "", {}, {}};
    r.checks = {CheckDef{"n1", "serfHealth", "Serf Health Status", HealthStatus::kPassing, "", "",
                         "", "", "", ""}};
    ASSERT_TRUE(apply(r).success);
  }
  void session(const std::string& id) {
    SessionDef d;
    d.id = id;
    d.node = "n1";
    d.node_checks = {"serfHealth"};
    ASSERT_TRUE(apply(SessionCreate{d}).success);
  }
  Fsm fsm;
  std::uint64_t index = 0;
};

TEST_F(TxnFixture, VerbNamesRoundTrip) {
  for (int v = 0; v <= static_cast<int>(TxnVerb::kDeleteCas); ++v) {
    const auto verb = static_cast<TxnVerb>(v);
    EXPECT_EQ(parse_txn_verb(txn_verb_name(verb)), verb);
  }
  EXPECT_EQ(parse_txn_verb("frobnicate"), std::nullopt);
}

TEST_F(TxnFixture, AllOpsApplyAtOneIndexAndLaterOpsSeeEarlierOnes) {
  auto r = txn({op(TxnVerb::kSet, "a", "1"), op(TxnVerb::kSet, "b", "2"), op(TxnVerb::kGet, "a"),
                op(TxnVerb::kCheckIndex, "b", "", 2)});  // index 1 registered n1 (SetUp)
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.results.size(), 4u);
  EXPECT_TRUE(r.results[0].value.empty());  // set: Value null
  EXPECT_EQ(r.results[0].modify_index, 2u);
  EXPECT_EQ(to_string(r.results[2].value), "1");  // get keeps the value
  EXPECT_TRUE(r.results[3].value.empty());
  EXPECT_EQ(fsm.kv().get("a")->modify_index, 2u);
  EXPECT_EQ(fsm.kv().get("b")->modify_index, 2u);
  EXPECT_EQ(fsm.kv().index(), 2u);
}

TEST_F(TxnFixture, AFailedTxnChangesNothingAndReportsEveryFailingOp) {
  apply(KvSet{"keep", to_bytes("old"), 0});
  apply(KvSet{"dir/x", to_bytes("x"), 0});
  const auto entries = fsm.kv().entries();
  const std::uint64_t kv_index = fsm.kv().index();
  auto r = txn({op(TxnVerb::kSet, "keep", "new"), op(TxnVerb::kDeleteTree, "dir/"),
                op(TxnVerb::kCas, "keep", "v", 99), op(TxnVerb::kSet, "fresh", "f"),
                op(TxnVerb::kGet, "nothing"), op(TxnVerb::kDeleteCas, "keep", "", 1)});
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0], (TxnError{2, "failed to set key \"keep\", index is stale"}));
  EXPECT_EQ(r.errors[1], (TxnError{4, "key \"nothing\" doesn't exist"}));
  EXPECT_EQ(r.errors[2], (TxnError{5, "failed to delete key \"keep\", index is stale"}));
  EXPECT_TRUE(r.results.empty());
  EXPECT_EQ(fsm.kv().entries(), entries);
  EXPECT_EQ(fsm.kv().index(), kv_index);
  fsm.check_invariants();
}

TEST_F(TxnFixture, ChecksAndTheirTexts) {
  session("s1");
  apply(KvSet{"k", to_bytes("v"), 0});
  const std::uint64_t at = index;
  EXPECT_TRUE(txn({op(TxnVerb::kCheckIndex, "k", "", at)}).errors.empty());
  EXPECT_EQ(txn({op(TxnVerb::kCheckIndex, "k", "", 1)}).errors.at(0).what,
            fmt::format("current modify index {} != 1", at));
  EXPECT_EQ(txn({op(TxnVerb::kCheckIndex, "no", "", 1)}).errors.at(0).what,
            "key \"no\" doesn't exist");
  EXPECT_EQ(txn({op(TxnVerb::kCheckNotExists, "k")}).errors.at(0).what, "key \"k\" exists");
  EXPECT_TRUE(txn({op(TxnVerb::kCheckNotExists, "no")}).errors.empty());
  EXPECT_EQ(txn({op(TxnVerb::kCheckSession, "k", "", 0, "s1")}).errors.at(0).what,
            "key \"k\" is not locked by session \"s1\"");
  // An unheld key "is locked by" the empty session.
  EXPECT_TRUE(txn({op(TxnVerb::kCheckSession, "k")}).errors.empty());
}

TEST_F(TxnFixture, LockAndUnlockFollowTheLockRules) {
  session("s1");
  session("s2");
  auto r =
      txn({op(TxnVerb::kLock, "l", "v", 0, "s1"), op(TxnVerb::kCheckSession, "l", "", 0, "s1")});
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.results[0].lock_index, 1u);
  EXPECT_EQ(r.results[0].session, "s1");
  EXPECT_EQ(txn({op(TxnVerb::kLock, "l", "v", 0, "s2")}).errors.at(0).what,
            "failed to lock key \"l\", lock is already held");
  EXPECT_EQ(txn({op(TxnVerb::kLock, "l", "v", 0, "ghost")}).errors.at(0).what,
            "invalid session \"ghost\"");
  EXPECT_EQ(txn({op(TxnVerb::kUnlock, "l", "", 0, "s2")}).errors.at(0).what,
            "failed to unlock key \"l\", lock isn't held, or is held by another session");
  // A lock taken in a failed txn is rolled back with the rest.
  auto failed = txn({op(TxnVerb::kLock, "m", "", 0, "s2"), op(TxnVerb::kGet, "none")});
  ASSERT_FALSE(failed.errors.empty());
  EXPECT_EQ(fsm.kv().get("m"), nullptr);
  EXPECT_TRUE(fsm.kv().held_by("s2").empty());
  ASSERT_TRUE(txn({op(TxnVerb::kUnlock, "l", "", 0, "s1")}).errors.empty());
  EXPECT_EQ(fsm.kv().get("l")->session, "");
  fsm.check_invariants();
}

TEST_F(TxnFixture, GetTreeAndDeletes) {
  apply(KvSet{"t/a", to_bytes("1"), 0});
  apply(KvSet{"t/b", to_bytes("2"), 0});
  apply(KvSet{"u", to_bytes("3"), 0});
  auto tree = txn({op(TxnVerb::kGetTree, "t/")});
  ASSERT_EQ(tree.results.size(), 2u);
  EXPECT_EQ(to_string(tree.results[1].value), "2");
  auto del =
      txn({op(TxnVerb::kDeleteTree, "t/"), op(TxnVerb::kDelete, "u"), op(TxnVerb::kGetTree, "")});
  ASSERT_TRUE(del.errors.empty());
  EXPECT_TRUE(del.results.empty());
  EXPECT_TRUE(fsm.kv().entries().empty());
}

TEST_F(TxnFixture, ReadOnlyTxnsNeedNoLog) {
  apply(KvSet{"k", to_bytes("v"), 0});
  const Txn reads{{op(TxnVerb::kGet, "k"), op(TxnVerb::kCheckNotExists, "z")}};
  EXPECT_TRUE(txn_is_read_only(reads));
  EXPECT_FALSE(txn_is_read_only(Txn{{op(TxnVerb::kGet, "k"), op(TxnVerb::kDelete, "k")}}));
  auto r = read_txn(fsm.kv(), reads);
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(to_string(r.results.at(0).value), "v");
  auto missing = read_txn(fsm.kv(), Txn{{op(TxnVerb::kGet, "k"), op(TxnVerb::kGet, "q")}});
  EXPECT_EQ(missing.errors, (std::vector<TxnError>{{1, "key \"q\" doesn't exist"}}));
  EXPECT_TRUE(missing.results.empty());
}

}  // namespace
}  // namespace praetor::catalog
