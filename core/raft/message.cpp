#include "core/raft/message.hpp"

namespace praetor::raft {

std::string_view entry_type_name(EntryType type) {
  switch (type) {
    case EntryType::kNormal:
      return "normal";
    case EntryType::kConfig:
      return "config";
    case EntryType::kNoop:
      return "noop";
  }
  return "?";
}

std::set<NodeId> Membership::all() const {
  std::set<NodeId> out = voters;
  out.insert(learners.begin(), learners.end());
  return out;
}

std::string_view message_kind_name(MessageKind kind) {
  switch (kind) {
    case MessageKind::kPreVote:
      return "PreVote";
    case MessageKind::kPreVoteResponse:
      return "PreVoteResponse";
    case MessageKind::kVote:
      return "Vote";
    case MessageKind::kVoteResponse:
      return "VoteResponse";
    case MessageKind::kAppend:
      return "Append";
    case MessageKind::kAppendResponse:
      return "AppendResponse";
    case MessageKind::kHeartbeat:
      return "Heartbeat";
    case MessageKind::kHeartbeatResponse:
      return "HeartbeatResponse";
    case MessageKind::kInstallSnapshot:
      return "InstallSnapshot";
    case MessageKind::kInstallSnapshotResponse:
      return "InstallSnapshotResponse";
    case MessageKind::kTimeoutNow:
      return "TimeoutNow";
  }
  return "?";
}

bool is_from_leader(MessageKind kind) {
  return kind == MessageKind::kAppend || kind == MessageKind::kHeartbeat ||
         kind == MessageKind::kInstallSnapshot || kind == MessageKind::kTimeoutNow;
}

}  // namespace praetor::raft
