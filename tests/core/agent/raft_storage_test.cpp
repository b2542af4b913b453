// Raft's durable state over the WAL: what persist() writes, recover() reads back, including
// suffix overwrites, snapshots (compaction and installed), torn tails and corruption.
#include "core/node/raft_storage.hpp"

#include <gtest/gtest.h>

namespace praetor::node {
namespace {

void apply_ops(StoredFiles& files, const WriteBatch& batch) {
  for (const auto& op : batch.ops) apply_write_op(files, op);
}

raft::Entry entry(std::uint64_t term, std::uint64_t index, std::string_view data = "x") {
  return raft::Entry{Term(term), LogIndex(index), raft::EntryType::kNormal, to_bytes(data)};
}

RaftStorage::Recovered recover_ok(const StoredFiles& files, wal::Options options = {}) {
  auto r = RaftStorage::recover(files, options);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  PRAETOR_ASSERT(r.has_value());
  return std::move(r.value());
}

// A Ready that installs a leader's snapshot at (index, term).
raft::Ready install_at(std::uint64_t index, std::uint64_t term) {
  raft::Ready install;
  install.snapshot = raft::Snapshot{};
  install.snapshot->meta.index = LogIndex(index);
  install.snapshot->meta.term = Term(term);
  install.snapshot->data = to_bytes("leader image");
  install.hard_state = raft::HardState{Term(term), NodeId(0), LogIndex(index)};
  return install;
}

std::vector<std::uint64_t> indexes(const raft::PersistentState& s) {
  std::vector<std::uint64_t> out;
  for (const auto& e : s.entries) out.push_back(e.index.value());
  return out;
}

TEST(RaftStorage, NothingStoredMeansABrandNewServer) {
  auto r = recover_ok({});
  EXPECT_FALSE(r.found);
  EXPECT_TRUE(r.state.entries.empty());
}

TEST(RaftStorage, HardStateAndEntriesRoundTrip) {
  StoredFiles files;
  auto r = recover_ok(files);
  raft::Ready ready;
  ready.hard_state = raft::HardState{Term(2), NodeId(1), LogIndex(1)};
  ready.entries = {entry(1, 1), entry(2, 2, "two")};
  auto batch = r.storage.persist(ready);
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->sync);
  apply_ops(files, *batch);
  auto back = recover_ok(files);
  EXPECT_TRUE(back.found);
  EXPECT_EQ(back.state.hard_state, (raft::HardState{Term(2), NodeId(1), LogIndex(1)}));
  ASSERT_EQ(back.state.entries.size(), 2u);
  EXPECT_EQ(back.state.entries[1], entry(2, 2, "two"));
}

TEST(RaftStorage, ANonDurableReadyWritesNothing) {
  auto r = recover_ok({});
  raft::Ready ready;
  ready.messages.resize(1);
  EXPECT_FALSE(r.storage.persist(ready));
}

TEST(RaftStorage, ACommitIndexAloneIsNotSyncedButGoesOutWithTheNextBatch) {
  StoredFiles files;
  auto r = recover_ok(files);
  raft::Ready a;
  a.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(0)};
  a.entries = {entry(1, 1), entry(1, 2)};
  apply_ops(files, *r.storage.persist(a));
  raft::Ready commit_only;
  commit_only.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(2)};
  EXPECT_FALSE(r.storage.persist(commit_only));
  EXPECT_EQ(r.storage.hard_state().commit, LogIndex(2));
  EXPECT_EQ(recover_ok(files).state.hard_state.commit, LogIndex(0));
  raft::Ready b;
  b.entries = {entry(1, 3)};
  auto batch = r.storage.persist(b);
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->sync);
  apply_ops(files, *batch);
  auto back = recover_ok(files);
  EXPECT_EQ(back.state.hard_state, (raft::HardState{Term(1), NodeId(1), LogIndex(2)}));
  EXPECT_EQ(indexes(back.state), (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(RaftStorage, ANewTermOrVoteIsSynced) {
  auto r = recover_ok({});
  raft::Ready term;
  term.hard_state = raft::HardState{Term(3), NodeId(0), LogIndex(0)};
  auto batch = r.storage.persist(term);
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->sync);
  raft::Ready vote;
  vote.hard_state = raft::HardState{Term(3), NodeId(2), LogIndex(0)};
  batch = r.storage.persist(vote);
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->sync);
}

TEST(RaftStorage, LaterEntriesOverwriteTheSuffix) {
  StoredFiles files;
  auto r = recover_ok(files);
  raft::Ready a;
  a.entries = {entry(1, 1), entry(1, 2), entry(1, 3)};
  apply_ops(files, *r.storage.persist(a));
  raft::Ready b;
  b.entries = {entry(2, 2, "new")};  // a new leader's entry replaces 2 and 3
  apply_ops(files, *r.storage.persist(b));
  auto back = recover_ok(files);
  EXPECT_EQ(indexes(back.state), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(back.state.entries[1].term, Term(2));
}

TEST(RaftStorage, CompactionKeepsLaterEntriesAndDropsCoveredSegments) {
  wal::Options options;
  options.segment_max_bytes = 200;
  StoredFiles files;
  auto r = recover_ok(files, options);
  for (std::uint64_t i = 1; i <= 30; ++i) {
    raft::Ready ready;
    ready.hard_state = raft::HardState{Term(1), NodeId(1), LogIndex(i)};
    ready.entries = {entry(1, i, "payload-payload")};
    apply_ops(files, *r.storage.persist(ready));
  }
  const std::size_t before = files.size();
  raft::Snapshot snap;
  snap.meta.index = LogIndex(20);
  snap.meta.term = Term(1);
  snap.meta.membership.voters = {NodeId(1)};
  snap.data = to_bytes("image@20");
  apply_ops(files, r.storage.save_snapshot(snap));
  ASSERT_GT(before, 3u);
  EXPECT_LT(files.size(), before);  // covered segments went, a new one and the snapshot came
  EXPECT_FALSE(files.contains("raft/wal-0000000000000001"));
  EXPECT_TRUE(files.contains("raft/snapshot"));
  auto back = recover_ok(files, options);
  EXPECT_EQ(back.state.snapshot, snap);
  std::vector<std::uint64_t> expected;
  for (std::uint64_t i = 21; i <= 30; ++i) expected.push_back(i);
  EXPECT_EQ(indexes(back.state), expected);
  EXPECT_EQ(back.state.hard_state.commit, LogIndex(30));
}

TEST(RaftStorage, AnInstalledSnapshotReplacesTheWholeLog) {
  StoredFiles files;
  auto r = recover_ok(files);
  raft::Ready a;
  a.entries = {entry(1, 1), entry(1, 2), entry(1, 3), entry(1, 4), entry(1, 5)};
  apply_ops(files, *r.storage.persist(a));
  apply_ops(files, *r.storage.persist(install_at(3, 4)));
  auto back = recover_ok(files);
  EXPECT_EQ(back.state.snapshot.meta.index, LogIndex(3));
  EXPECT_TRUE(back.state.entries.empty());  // 4 and 5 came from the replaced log
  raft::Ready next;
  next.entries = {entry(4, 4, "after")};
  apply_ops(files, *back.storage.persist(next));
  EXPECT_EQ(indexes(recover_ok(files).state), (std::vector<std::uint64_t>{4}));
}

TEST(RaftStorage, ASnapshotAndEntriesInOneReadyAreOneAppend) {
  // Two appends in one synced batch could reach the disk out of order; a crash between them
  // would leave zeros before a valid batch, which recovery must refuse as corruption.
  StoredFiles files;
  auto r = recover_ok(files);
  raft::Ready a;
  a.entries = {entry(1, 1), entry(1, 2)};
  apply_ops(files, *r.storage.persist(a));
  raft::Ready install = install_at(5, 3);
  install.entries = {entry(3, 6, "six"), entry(3, 7, "seven")};
  auto batch = r.storage.persist(install);
  ASSERT_TRUE(batch);
  int appends = 0;
  for (const auto& op : batch->ops) appends += op.kind == WriteOp::Kind::kAppend ? 1 : 0;
  EXPECT_EQ(appends, 1);
  apply_ops(files, *batch);
  auto back = recover_ok(files);
  EXPECT_EQ(back.state.snapshot.meta.index, LogIndex(5));
  EXPECT_EQ(back.state.hard_state.term, Term(3));
  EXPECT_EQ(indexes(back.state), (std::vector<std::uint64_t>{6, 7}));
}

TEST(RaftStorage, ATornTailLosesOnlyTheUnacknowledgedBatch) {
  StoredFiles files;
  auto r = recover_ok(files);
  raft::Ready a;
  a.entries = {entry(1, 1)};
  apply_ops(files, *r.storage.persist(a));
  raft::Ready b;
  b.entries = {entry(1, 2)};
  apply_ops(files, *r.storage.persist(b));
  auto& seg = files.begin()->second;
  seg.resize(seg.size() - 2);
  auto back = recover_ok(files);
  EXPECT_TRUE(back.torn_tail_cut);
  EXPECT_EQ(indexes(back.state), (std::vector<std::uint64_t>{1}));
}

TEST(RaftStorage, CorruptionInTheMiddleRefusesToStart) {
  StoredFiles files;
  auto r = recover_ok(files);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    raft::Ready ready;
    ready.entries = {entry(1, i)};
    apply_ops(files, *r.storage.persist(ready));
  }
  files.begin()->second[wal::kBatchHeaderBytes + 3] ^= 0x10;
  auto back = RaftStorage::recover(files);
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("raft/wal-"), std::string::npos);
  EXPECT_NE(back.error().message.find("offset"), std::string::npos);
}

TEST(RaftStorage, ADamagedSnapshotFileIsNamed) {
  StoredFiles files;
  files["raft/snapshot"] = to_bytes("not a snapshot at all");
  auto back = RaftStorage::recover(files);
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("raft/snapshot"), std::string::npos);
}

}  // namespace
}  // namespace praetor::node
