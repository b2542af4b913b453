#include "core/raft/quorum.hpp"

#include <algorithm>
#include <functional>

namespace praetor::raft {

VoteResult tally_votes(const std::set<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  std::size_t granted = 0;
  std::size_t rejected = 0;
  for (NodeId v : voters) {
    auto it = votes.find(v);
    if (it == votes.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const std::size_t need = majority(voters.size());
  if (granted >= need) return VoteResult::kWon;
  if (voters.size() - rejected < need) return VoteResult::kLost;
  return VoteResult::kPending;
}

std::uint64_t quorum_value(const std::set<NodeId>& voters,
                           const std::map<NodeId, std::uint64_t>& values) {
  if (voters.empty()) return 0;
  std::vector<std::uint64_t> v;
  v.reserve(voters.size());
  for (NodeId id : voters) {
    auto it = values.find(id);
    v.push_back(it == values.end() ? 0 : it->second);
  }
  std::sort(v.begin(), v.end(), std::greater<>());
  return v[majority(v.size()) - 1];
}

LogIndex quorum_index(const std::set<NodeId>& voters, const std::map<NodeId, LogIndex>& matches) {
  std::map<NodeId, std::uint64_t> values;
  for (const auto& [id, index] : matches) values[id] = index.value();
  return LogIndex(quorum_value(voters, values));
}

}  // namespace praetor::raft
