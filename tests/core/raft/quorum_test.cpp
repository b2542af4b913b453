#include "core/raft/quorum.hpp"

#include <gtest/gtest.h>

namespace praetor::raft {
namespace {

std::set<NodeId> ids(std::initializer_list<std::uint64_t> v) {
  std::set<NodeId> out;
  for (auto i : v) out.insert(NodeId(i));
  return out;
}

TEST(RaftQuorum, Majority) {
  EXPECT_EQ(majority(1), 1u);
  EXPECT_EQ(majority(2), 2u);
  EXPECT_EQ(majority(3), 2u);
  EXPECT_EQ(majority(4), 3u);
  EXPECT_EQ(majority(5), 3u);
}

TEST(RaftQuorum, TallyIgnoresNonVoters) {
  const auto v = ids({1, 2, 3});
  EXPECT_EQ(tally_votes(v, {{NodeId(1), true}}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{NodeId(1), true}, {NodeId(9), true}}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{NodeId(1), true}, {NodeId(2), true}}), VoteResult::kWon);
  EXPECT_EQ(tally_votes(v, {{NodeId(2), false}, {NodeId(3), false}}), VoteResult::kLost);
  EXPECT_EQ(
      tally_votes(ids({1, 2, 3, 4}), {{NodeId(1), true}, {NodeId(2), false}, {NodeId(3), false}}),
      VoteResult::kLost);
}

TEST(RaftQuorum, QuorumIndexIsTheMajorityMatch) {
  const auto v = ids({1, 2, 3, 4, 5});
  std::map<NodeId, LogIndex> m = {{NodeId(1), LogIndex(9)},
                                  {NodeId(2), LogIndex(7)},
                                  {NodeId(3), LogIndex(5)},
                                  {NodeId(4), LogIndex(3)}};
  EXPECT_EQ(quorum_index(v, m), LogIndex(5));
  m[NodeId(6)] = LogIndex(100);  // not a voter
  EXPECT_EQ(quorum_index(v, m), LogIndex(5));
  EXPECT_EQ(quorum_index(ids({1}), m), LogIndex(9));
  EXPECT_EQ(quorum_index({}, m), LogIndex(0));
}

}  // namespace
}  // namespace praetor::raft
