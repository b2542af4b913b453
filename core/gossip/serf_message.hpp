// Serf's messages, carried as SWIM user messages (piggybacked broadcasts) and as the user state
// of a push/pull. Lamport times order intents about one member and user events cluster-wide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"

namespace praetor::gossip {

// "node is leaving" (graceful leave, sent before its SWIM leave) or "node (re)joined".
struct JoinIntent {
  LamportTime ltime;
  std::string node;
  friend bool operator==(const JoinIntent&, const JoinIntent&) = default;
};
struct LeaveIntent {
  LamportTime ltime;
  std::string node;
  friend bool operator==(const LeaveIntent&, const LeaveIntent&) = default;
};
struct UserEvent {
  LamportTime ltime;
  std::string name;
  Bytes payload;
  friend bool operator==(const UserEvent&, const UserEvent&) = default;
};

using SerfMessage = std::variant<JoinIntent, LeaveIntent, UserEvent>;

enum class SerfMessageType : std::uint8_t { kJoinIntent = 1, kLeaveIntent = 2, kUserEvent = 3 };

// Serf's part of a push/pull: clocks, each member's status time, who left, and the recent user
// events (so an event whose gossip missed a member still reaches it by anti-entropy).
inline constexpr std::size_t kMaxStateEvents = 256;

struct SerfState {
  LamportTime member_ltime;
  LamportTime event_ltime;
  std::vector<std::pair<std::string, LamportTime>> status_ltimes;
  std::vector<std::string> left_members;
  std::vector<UserEvent> events;
  friend bool operator==(const SerfState&, const SerfState&) = default;
};

}  // namespace praetor::gossip
