// Raft's data on the wire and on disk: log entries, membership, snapshot metadata and the one
// Message struct that carries every RPC. These are plain values; codec.cpp (de)serializes them and
// format.hpp renders them for logs and transcripts.
//
// Node id 0 (kNoNode) means "nobody": no vote cast, no leader known. Real node ids are > 0.
#pragma once

#include <cstdint>
#include <set>
#include <string_view>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"

namespace praetor::raft {

inline constexpr NodeId kNoNode{0};

// Names a linearizable read request the host registered with Raft::read_index().
using ReadId = StrongId<struct ReadIdTag>;

enum class EntryType : std::uint8_t {
  kNormal = 0,  // a state machine command, opaque to Raft
  kConfig = 1,  // data is an encoded Membership (codec: encode_membership)
  kNoop = 2,    // appended by each new leader so it can commit an entry of its own term
};
std::string_view entry_type_name(EntryType type);

struct Entry {
  Term term;
  LogIndex index;
  EntryType type = EntryType::kNormal;
  Bytes data;

  friend bool operator==(const Entry&, const Entry&) = default;
};

// The cluster configuration. Voters elect and form quorums; learners (non-voters) only receive
// the log so they can catch up before promotion. The two sets are disjoint.
struct Membership {
  std::set<NodeId> voters;
  std::set<NodeId> learners;

  bool is_voter(NodeId id) const { return voters.count(id) != 0; }
  bool is_learner(NodeId id) const { return learners.count(id) != 0; }
  bool contains(NodeId id) const { return is_voter(id) || is_learner(id); }
  std::set<NodeId> all() const;

  friend bool operator==(const Membership&, const Membership&) = default;
};

// What a snapshot replaces: every entry up to and including `index`, whose term was `term`, and
// the membership in force at that index.
struct SnapshotMeta {
  LogIndex index;
  Term term;
  Membership membership;

  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

struct Snapshot {
  SnapshotMeta meta;
  Bytes data;  // the opaque state machine image (catalog::Fsm::snapshot())

  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

enum class MessageKind : std::uint8_t {
  kPreVote = 1,  // Raft thesis §9.6: "would you vote for me at term+1?" (no state change)
  kPreVoteResponse = 2,
  kVote = 3,  // RequestVote (Raft §5.2)
  kVoteResponse = 4,
  kAppend = 5,  // AppendEntries with entries (Raft §5.3)
  kAppendResponse = 6,
  kHeartbeat = 7,  // empty AppendEntries: keeps authority, carries commit and read round
  kHeartbeatResponse = 8,
  kInstallSnapshot = 9,  // one chunk of a snapshot (Raft §7)
  kInstallSnapshotResponse = 10,
  kTimeoutNow = 11,  // leadership transfer: "start an election now" (thesis §3.10)
};
inline constexpr std::uint8_t kMessageKindMax = 11;
std::string_view message_kind_name(MessageKind kind);

// One struct for every RPC, as etcd does: fields a kind does not use stay at their defaults and
// are not rendered. Which kind uses which field:
//   kPreVote/kVote            log_term, index (the candidate's last entry), transfer
//   k*VoteResponse            reject
//   kAppend                   log_term, index (the entry preceding `entries`), entries, commit
//   kAppendResponse           index (highest index known to match on success; the rejected
//                             prev index on reject), reject, hint_index, hint_term
//   kHeartbeat                commit (min(commit, follower match)), read_round
//   kHeartbeatResponse        read_round
//   kInstallSnapshot          snapshot, offset, chunk, done
//   kInstallSnapshotResponse  snapshot.index, offset (next expected byte), reject, done, index
//   kTimeoutNow               (term only)
struct Message {
  MessageKind kind = MessageKind::kHeartbeat;
  NodeId from;
  NodeId to;
  Term term;

  Term log_term;
  LogIndex index;
  std::vector<Entry> entries;
  LogIndex commit;
  bool reject = false;
  LogIndex hint_index;
  Term hint_term;
  bool transfer = false;
  std::uint64_t read_round = 0;
  SnapshotMeta snapshot;
  std::uint64_t offset = 0;
  Bytes chunk;
  bool done = false;

  friend bool operator==(const Message&, const Message&) = default;
};

// True for the kinds only a leader sends; receiving one names the sender as leader.
bool is_from_leader(MessageKind kind);

}  // namespace praetor::raft
