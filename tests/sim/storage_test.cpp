// SimStorage: synced vs unsynced data across crashes, torn appends, corruption.
#include <gtest/gtest.h>

#include "sim/sim_storage.hpp"

namespace praetor::sim {
namespace {

node::WriteBatch append(std::string file, std::string data, bool sync) {
  node::WriteBatch b;
  b.sync = sync;
  b.ops.push_back(node::WriteOp{node::WriteOp::Kind::kAppend, std::move(file), to_bytes(data), 0});
  return b;
}

TEST(SimStorageTest, CrashKeepsSyncedAndDropsUnsynced) {
  SimStorage s;
  Rng rng(1);
  s.apply(append("wal", "aaa", true), 1);
  s.sync_through(1);
  s.apply(append("wal", "bbb", false), 2);
  EXPECT_EQ(to_string(s.files().at("wal")), "aaabbb");  // the process sees its own writes
  CrashReport r = s.crash(rng, CrashMode::kDropUnsynced);
  EXPECT_EQ(r.pending, 1u);
  EXPECT_EQ(r.kept, 0u);
  EXPECT_EQ(to_string(s.files().at("wal")), "aaa");
}

TEST(SimStorageTest, SyncMakesEarlierUnsyncedWritesDurableToo) {
  SimStorage s;
  Rng rng(1);
  s.apply(append("a", "1", false), 1);
  s.apply(append("b", "2", true), 2);
  s.apply(append("c", "3", false), 3);
  s.sync_through(2);
  s.crash(rng, CrashMode::kDropUnsynced);
  EXPECT_EQ(s.files().count("a"), 1u);
  EXPECT_EQ(s.files().count("b"), 1u);
  EXPECT_EQ(s.files().count("c"), 0u);
}

TEST(SimStorageTest, RandomPrefixCrashKeepsAPrefixAndTearsAppends) {
  int torn = 0, whole = 0, none = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    SimStorage s;
    Rng rng(seed);
    s.apply(append("wal", "0123456789", false), 1);
    s.apply(append("wal", "abcdefghij", false), 2);
    CrashReport r = s.crash(rng, CrashMode::kRandomPrefix);
    std::string after = s.files().count("wal") ? to_string(s.files().at("wal")) : "";
    std::string full = "0123456789abcdefghij";
    // Whatever survives is a prefix of what was written, in order.
    ASSERT_EQ(full.substr(0, after.size()), after) << "seed " << seed;
    if (r.torn) ++torn;
    if (after.size() == full.size()) ++whole;
    if (after.empty()) ++none;
    EXPECT_EQ(s.pending_ops(), 0u);
  }
  EXPECT_GT(torn, 10);
  EXPECT_GT(whole, 10);
  EXPECT_GT(none, 10);
}

TEST(SimStorageTest, ReplaceIsAtomicAndTruncateRemoveApply) {
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    SimStorage s;
    Rng rng(seed);
    node::WriteBatch b;
    b.sync = false;
    b.ops.push_back(node::WriteOp{node::WriteOp::Kind::kReplace, "meta", to_bytes("new-meta"), 0});
    s.apply(b, 1);
    s.crash(rng, CrashMode::kRandomPrefix);
    if (s.files().count("meta")) {
      EXPECT_EQ(to_string(s.files().at("meta")), "new-meta");
    }
  }
  SimStorage s;
  s.apply(append("f", "hello world", true), 1);
  node::WriteBatch b;
  b.ops.push_back(node::WriteOp{node::WriteOp::Kind::kTruncate, "f", {}, 5});
  b.ops.push_back(node::WriteOp{node::WriteOp::Kind::kAppend, "g", to_bytes("x"), 0});
  b.ops.push_back(node::WriteOp{node::WriteOp::Kind::kRemove, "g", {}, 0});
  s.apply(b, 2);
  s.sync_through(2);
  EXPECT_EQ(to_string(s.durable().at("f")), "hello");
  EXPECT_EQ(s.durable().count("g"), 0u);
}

TEST(SimStorageTest, CorruptionFlipsOneBitOfADurableFile) {
  SimStorage s;
  Rng rng(3);
  EXPECT_EQ(s.corrupt_random_byte(rng), "");
  s.apply(append("wal", "abcdef", true), 1);
  s.sync_through(1);
  EXPECT_EQ(s.corrupt_random_byte(rng), "wal");
  std::string after = to_string(s.durable().at("wal"));
  int differing_bits = 0;
  for (std::size_t i = 0; i < after.size(); ++i) {
    differing_bits += __builtin_popcount(static_cast<unsigned>(after[i] ^ "abcdef"[i]) & 0xffu);
  }
  EXPECT_EQ(differing_bits, 1);
}

}  // namespace
}  // namespace praetor::sim
