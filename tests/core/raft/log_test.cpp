#include "core/raft/log.hpp"

#include <gtest/gtest.h>

#include "core/raft/codec.hpp"
#include "tests/core/raft/raft_fixture.hpp"

namespace praetor::raft {
namespace {

using test::entries_with_terms;

TEST(RaftLog, TermsAndUpToDate) {
  RaftLog log(SnapshotMeta{}, entries_with_terms({1, 1, 2}), LogIndex(0));
  EXPECT_EQ(log.last_index(), LogIndex(3));
  EXPECT_EQ(log.last_term(), Term(2));
  EXPECT_EQ(log.term_at(LogIndex(0)), Term(0));
  EXPECT_EQ(log.term_at(LogIndex(2)), Term(1));
  EXPECT_FALSE(log.term_at(LogIndex(4)).has_value());
  EXPECT_TRUE(log.is_up_to_date(LogIndex(3), Term(2)));
  EXPECT_TRUE(log.is_up_to_date(LogIndex(1), Term(3)));
  EXPECT_FALSE(log.is_up_to_date(LogIndex(2), Term(2)));
  EXPECT_FALSE(log.is_up_to_date(LogIndex(9), Term(1)));
}

TEST(RaftLog, MaybeAppendTruncatesOnlyConflicts) {
  RaftLog log(SnapshotMeta{}, entries_with_terms({1, 1, 2}), LogIndex(1));
  // A stale, shorter append that matches changes nothing.
  auto r = log.maybe_append(LogIndex(0), Term(0), entries_with_terms({1}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, LogIndex(1));
  EXPECT_EQ(log.last_index(), LogIndex(3));
  // A conflicting entry at 3 replaces the suffix.
  std::vector<Entry> e = {Entry{Term(3), LogIndex(3), EntryType::kNormal, {}},
                          Entry{Term(3), LogIndex(4), EntryType::kNormal, {}}};
  r = log.maybe_append(LogIndex(2), Term(1), e);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(log.last_index(), LogIndex(4));
  EXPECT_EQ(log.term_at(LogIndex(3)), Term(3));
  // Mismatched prev.
  EXPECT_FALSE(log.maybe_append(LogIndex(4), Term(2), {}).has_value());
  log.check_invariants();
}

TEST(RaftLog, FindConflictByTerm) {
  RaftLog log(SnapshotMeta{}, entries_with_terms({1, 1, 2, 2, 4, 4}), LogIndex(0));
  EXPECT_EQ(log.find_conflict_by_term(LogIndex(6), Term(3)), LogIndex(4));
  EXPECT_EQ(log.find_conflict_by_term(LogIndex(6), Term(4)), LogIndex(6));
  EXPECT_EQ(log.find_conflict_by_term(LogIndex(4), Term(1)), LogIndex(2));
  EXPECT_EQ(log.find_conflict_by_term(LogIndex(9), Term(0)), LogIndex(0));
}

TEST(RaftLog, MembershipFollowsTheLogIncludingTruncation) {
  Membership base = test::voters({1, 2, 3});
  RaftLog log(SnapshotMeta{LogIndex(0), Term(0), base}, {}, LogIndex(0));
  log.append(Entry{Term(1), LogIndex(1), EntryType::kNoop, {}});
  Membership next = base;
  next.learners.insert(NodeId(4));
  log.append(Entry{Term(1), LogIndex(2), EntryType::kConfig, encode_membership(next)});
  EXPECT_EQ(log.membership(), next);
  EXPECT_EQ(log.membership_index(), LogIndex(2));
  EXPECT_EQ(log.membership_at(LogIndex(1)), base);
  // A new leader overwrites the config entry: the previous configuration is back in force.
  ASSERT_TRUE(
      log.maybe_append(LogIndex(1), Term(1), {Entry{Term(2), LogIndex(2), EntryType::kNoop, {}}}));
  EXPECT_EQ(log.membership(), base);
  EXPECT_EQ(log.membership_index(), LogIndex(0));
}

TEST(RaftLog, PersistenceTrackingSurvivesTruncation) {
  RaftLog log(SnapshotMeta{}, {}, LogIndex(0));
  log.append(Entry{Term(1), LogIndex(1), EntryType::kNoop, {}});
  log.append(Entry{Term(1), LogIndex(2), EntryType::kNoop, {}});
  auto handed = log.take_unstable();
  ASSERT_EQ(handed.size(), 2u);
  EXPECT_FALSE(log.has_unstable());
  // Before the host confirms, a new leader replaces entry 2.
  ASSERT_TRUE(
      log.maybe_append(LogIndex(1), Term(1), {Entry{Term(2), LogIndex(2), EntryType::kNoop, {}}}));
  EXPECT_TRUE(log.has_unstable());
  log.persisted_to(handed.back().index, handed.back().term);  // the old entry 2: not ours now
  EXPECT_EQ(log.persisted(), LogIndex(0));
  auto again = log.take_unstable();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].term, Term(2));
  log.persisted_to(again.back().index, again.back().term);
  EXPECT_EQ(log.persisted(), LogIndex(2));
}

TEST(RaftLog, CompactAndRestore) {
  RaftLog log(SnapshotMeta{}, entries_with_terms({1, 1, 2, 2}), LogIndex(4));
  EXPECT_EQ(log.take_committed(10).size(), 4u);
  log.applied_to(LogIndex(4));
  log.compact(SnapshotMeta{LogIndex(3), Term(2), {}});
  EXPECT_EQ(log.first_index(), LogIndex(4));
  EXPECT_EQ(log.term_at(LogIndex(3)), Term(2));
  EXPECT_FALSE(log.term_at(LogIndex(2)).has_value());
  log.restore(SnapshotMeta{LogIndex(10), Term(5), {}});
  EXPECT_EQ(log.last_index(), LogIndex(10));
  EXPECT_EQ(log.committed(), LogIndex(10));
  EXPECT_EQ(log.last_term(), Term(5));
  log.check_invariants();
}

}  // namespace
}  // namespace praetor::raft
