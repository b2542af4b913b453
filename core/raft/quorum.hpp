// Quorum arithmetic, free of any Raft state so it can be tested alone.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <vector>

#include "core/base/ids.hpp"

namespace praetor::raft {

// Votes needed among n voters: a strict majority.
constexpr std::size_t majority(std::size_t n) { return n / 2 + 1; }

enum class VoteResult { kPending, kWon, kLost };

// Tallies granted/rejected votes among `voters`; votes from non-voters are ignored.
VoteResult tally_votes(const std::set<NodeId>& voters, const std::map<NodeId, bool>& votes);

// The highest index a majority of `voters` has matched, given each voter's match (absent = 0).
LogIndex quorum_index(const std::set<NodeId>& voters, const std::map<NodeId, LogIndex>& matches);

// The same for any monotone counter (ReadIndex rounds).
std::uint64_t quorum_value(const std::set<NodeId>& voters,
                           const std::map<NodeId, std::uint64_t>& values);

}  // namespace praetor::raft
