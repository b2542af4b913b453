#include "core/raft/ready.hpp"

namespace praetor::raft {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "Follower";
    case Role::kPreCandidate:
      return "PreCandidate";
    case Role::kCandidate:
      return "Candidate";
    case Role::kLeader:
      return "Leader";
  }
  return "?";
}

bool Ready::empty() const {
  return !hard_state && entries.empty() && !snapshot && messages.empty() && committed.empty() &&
         reads.empty() && reads_aborted.empty() && !role;
}

PersistentState PersistentState::bootstrap(Membership membership) {
  PersistentState s;
  s.snapshot.meta.membership = std::move(membership);
  return s;
}

}  // namespace praetor::raft
