// The Raft core's outputs (Ready), its durable state (PersistentState) and its read-only view
// (Status).
//
// ORDERING RULES for a host handling one Ready (take_ready() ... advance(ready)):
//   1. snapshot: if set, persist it (meta + data) and install it into the state machine. It
//      replaces the whole log: drop every persisted entry and restart the log after
//      snapshot.meta.index.
//   2. hard_state and entries: persist durably (fsync). entries may overwrite a persisted suffix:
//      truncate the stored log from entries.front().index, then append.
//   3. messages: send, only after 1 and 2 are durable (a vote or an acknowledgement must never
//      be sent for state that could be lost in a crash). Delivery is best effort. Every message
//      carries the node's current term (or term+1 for pre-votes): older ones are dropped when
//      the Ready is built, so no acknowledgement outlives a truncation.
//      One exception (Raft thesis §10.2.1): a leader's Append and Heartbeat messages may be sent
//      while 2 is in progress, provided the Ready changes neither term nor vote, because the
//      core counts the leader's own entries toward a commit only once advance() reports them
//      durable. The leader's disk write and its followers' then overlap.
//   4. committed: apply to the state machine in order, each exactly once. They always follow the
//      snapshot of the same Ready (if any). A committed entry is durable on a quorum, so it may
//      be applied (and its client answered) before 2 completes on this node.
//   5. reads: serve each read once the state machine's applied index >= its index.
//      reads_aborted: answer with an error (leadership was lost before confirmation).
//   6. role: informational (logs, metrics, routing of client requests to the leader).
//   7. call advance(ready). Only one Ready is in flight: take_ready() must not be called again
//      before advance(). Inputs arriving meanwhile are batched into the next Ready.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "core/base/ids.hpp"
#include "core/raft/message.hpp"

namespace praetor::raft {

enum class Role : std::uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view role_name(Role role);

// What Raft must keep across crashes besides the log (Raft Figure 2, plus commit so a restart
// does not re-apply from zero... hosts may also ignore commit and replay from the snapshot).
struct HardState {
  Term term;
  NodeId vote;  // kNoNode when none was cast in `term`
  LogIndex commit;

  friend bool operator==(const HardState&, const HardState&) = default;
};

struct ReadState {
  ReadId id;
  LogIndex index;  // serve the read once applied >= index
  friend bool operator==(const ReadState&, const ReadState&) = default;
};

// Volatile facts worth telling the host when they change.
struct SoftState {
  Role role = Role::kFollower;
  Term term;
  NodeId leader;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

struct Ready {
  std::optional<HardState> hard_state;  // set when it changed since the last Ready
  std::vector<Entry> entries;           // to persist, contiguous, before sending `messages`
  std::optional<Snapshot> snapshot;     // to persist and install first
  std::vector<Message> messages;
  std::vector<Entry> committed;  // to apply in order, exactly once
  std::vector<ReadState> reads;
  std::vector<ReadId> reads_aborted;
  std::optional<SoftState> role;  // set when role, term or leader changed

  bool empty() const;
};

// Everything a node recovers from disk at start. A brand-new cluster member is bootstrapped with
// an empty log and a snapshot meta at index 0 carrying the initial membership; a node joining an
// existing cluster starts with an empty membership and waits for the leader.
struct PersistentState {
  HardState hard_state;
  Snapshot snapshot;
  std::vector<Entry> entries;  // contiguous, starting at snapshot.meta.index + 1

  static PersistentState bootstrap(Membership membership);
};

struct ProgressStatus {
  LogIndex match;
  LogIndex next;
  std::string_view state;  // "probe", "replicate", "snapshot"
  bool learner = false;
  bool recent_active = false;
  friend bool operator==(const ProgressStatus&, const ProgressStatus&) = default;
};

struct Status {
  NodeId id;
  Role role = Role::kFollower;
  Term term;
  NodeId vote;
  NodeId leader;
  LogIndex first_index;
  LogIndex last_index;
  LogIndex commit;
  LogIndex applied;
  LogIndex persisted;
  Membership membership;
  NodeId transferee;                          // leadership transfer target, or kNoNode
  std::map<NodeId, ProgressStatus> progress;  // leader only
};

// Single-server membership change (Raft thesis §4.1).
struct MembershipChange {
  enum class Kind : std::uint8_t { kAddLearner, kPromote, kRemove };
  Kind kind = Kind::kAddLearner;
  NodeId node;
};

}  // namespace praetor::raft
