// praetor::raft::Raft — a pure Raft consensus core.
//
// DESIGN NOTE
//
// What it is. One node's Raft state machine (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", and Ongaro's thesis), with no I/O of its own. The host feeds it inputs as
// method calls with the current time as an argument, drains its effects as a Ready, performs them
// (persist, send, apply) and confirms with advance(). Randomness comes from the Rng handed to
// restore(); logs go to the injected Logger under the subsystem "raft". Given the same inputs the
// core produces the same outputs, which is what the transcript tests and the simulator rely on.
//
// Driving it (see ready.hpp for the ordering rules of one Ready):
//   auto raft = Raft::restore(config, state_from_disk, rng, logger).value();
//   loop:
//     on a frame:       raft.step(now, decode_message(frame).value());
//     on a timer:       raft.advance_time(now); then re-arm at raft.next_deadline()
//     on a client call: raft.propose(now, command) / read_index(now, id) / ...
//     while (raft.has_ready()) { Ready r = raft.take_ready(); persist; send; apply; advance(r); }
//
// Host obligations beyond ready.hpp's ordering rules:
//   * restore() has no `now`: timers start at the first input. Until then next_deadline()
//     returns Instant::zero(), so a host that arms its timer there calls advance_time() at once.
//   * has_ready() is false while a Ready is in flight (between take_ready and advance).
//   * PersistentState::snapshot.data must be the full state machine image: the core keeps it
//     (and the one passed to compact()) in memory to send to followers that fall behind.
//   * Node ids are > 0; id 0 means "none" everywhere.
//
// Features and where they live in raft.cpp:
//   * Elections (Raft §5.2) with a randomized timeout in [T, 2T) drawn from the Rng.
//   * Pre-Vote (thesis §9.6): a node whose timer fires first asks "would you vote for me at
//     term+1?" without changing its term, so a node rejoining from a partition cannot force the
//     cluster into a new term. CheckQuorum: a leader that has not heard from a quorum within an
//     election timeout steps down, and a follower that heard from a leader within the last
//     election timeout ignores (pre-)vote requests (the lease); the two together stop a rejoining
//     node from disrupting a healthy leader.
//   * Replication (§5.3) with per-follower flow control (progress.hpp): probing one append at a
//     time until the match point is found, then pipelining up to max_inflight_appends batches of at
//     most max_entries_per_append / max_bytes_per_append. Rejections carry a (hint_index,
//     hint_term) pair so the leader skips a whole conflicting term at a time (fast backtracking).
//   * Commitment (§5.4.2, Figure 8): the leader only advances commit to an index a quorum has
//     matched whose entry is from its current term; earlier entries commit indirectly. To get an
//     entry of its term committed promptly, a new leader appends a no-op.
//   * The leader counts its own log toward a quorum only once the host has persisted it (advance).
//   * Proposals are replicated when the next Ready is taken: everything proposed since the last
//     Ready goes out in one append per follower (within the per-follower window), and a commit
//     index that moved reaches each follower once, on that append or on an empty one.
//   * Leadership transfer (thesis §3.10): the leader stops taking proposals, brings the target up
//     to date, sends TimeoutNow; the target campaigns at once and voters ignore their lease for a
//     transfer vote. The attempt is abandoned after an election timeout.
//   * ReadIndex (thesis §6.4): a read is registered at the current commit index and released once
//     a quorum has acknowledged a heartbeat round started after it. A fresh leader does not know
//     the true commit index until an entry of its own term commits, so reads wait for its no-op.
//   * Log compaction (§7): the host snapshots its state machine at an applied index and calls
//     compact(); entries up to it are dropped. Followers behind the snapshot receive it in chunks
//     of snapshot_chunk_bytes, one outstanding at a time, and install it via Ready::snapshot. A
//     snapshot at or below the follower's commit index is stale and ignored.
//   * Membership (thesis §4.1, single-server changes): a node is added as a learner (receives the
//     log, does not vote), promoted once caught up, or removed. The latest configuration in the
//     log takes effect as soon as it is appended, committed or not; truncating a config entry
//     reverts it. At most one change is in flight (the previous config entry is committed), and
//     only after an entry of the leader's current term has committed (the fix Ongaro published in
//     2015 for single-server changes). A leader that removes itself steps down once that change
//     commits.
//
// Safety invariants checked by check_invariants() after every input in tests: the log's index
// ordering (log.hpp), the leader is the node's own idea of leader exactly when it leads, a leader
// or candidate has voted for itself, a leader tracks progress for every other member and no
// follower tracks any, a non-voter never campaigns (a leader may be a non-voter only while its own
// removal commits), and the last Ready never announced more term or commit than the state holds.
// The test cluster adds the cross-node properties (tests/core/raft/cluster.hpp).
//
// Not done here (later issues): batching of proposals into one entry, a lease-based read path,
// joint consensus, and automatic learner promotion (the host decides with status().progress).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "core/base/log.hpp"
#include "core/base/result.hpp"
#include "core/base/rng.hpp"
#include "core/raft/config.hpp"
#include "core/raft/log.hpp"
#include "core/raft/message.hpp"
#include "core/raft/progress.hpp"
#include "core/raft/ready.hpp"

namespace praetor::raft {

class Raft {
 public:
  // Rebuilds a node from what it persisted (or from PersistentState::bootstrap). Fails on an
  // invalid config or an inconsistent state (vote without term, commit beyond the log, ...).
  static Result<Raft> restore(const Config& config, PersistentState state, Rng rng, Logger& logger);

  Raft(Raft&&) = default;
  Raft& operator=(Raft&&) = default;

  // ---- Inputs: each may queue effects, none performs them. `now` never goes backwards.
  void step(Instant now, const Message& message);
  // Fires every deadline <= now: election timeout, heartbeat, CheckQuorum, transfer timeout.
  void advance_time(Instant now);
  // Starts an election now (pre-vote first when enabled), as if the election timer fired.
  void campaign(Instant now);
  // Appends a command on the leader. kNotLeader (message names the leader if known) on a
  // follower; kUnavailable while transferring leadership or with max_pending_proposals
  // uncommitted entries; kTooLarge over kMaxEntryBytes.
  Result<LogIndex> propose(Instant now, Bytes command);
  // Single-server membership change; see the design note for the preconditions.
  Result<LogIndex> propose_membership(Instant now, MembershipChange change);
  // Registers a linearizable read; its ReadState (or abort) arrives in a later Ready.
  Result<void> read_index(Instant now, ReadId id);
  Result<void> transfer_leadership(Instant now, NodeId target);
  // The host has applied through `index` and saved `snapshot_data` as the state machine's image
  // at that index: drop the log up to it. kInvalidArgument unless snapshot < index <= applied.
  Result<void> compact(LogIndex index, Bytes snapshot_data);

  // ---- Outputs.
  bool has_ready() const;
  Ready take_ready();
  void advance(const Ready& ready);
  // While a Ready is in flight, a leader's entries may commit (its followers acknowledged them)
  // long before its own disk write finishes. This hands them over at once: the host applies them
  // in order before its next input, exactly as if they had come in Ready::committed, and they
  // count as applied from now on. They are durable on a quorum. Empty unless this node leads and
  // the Ready in flight installs no snapshot (the state machine must have it first).
  std::vector<Entry> take_committed_in_flight();
  Instant next_deadline() const;
  Status status() const;
  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId leader() const { return leader_; }
  // When a follower last heard from its leader (never: not since it started or the term began).
  Instant leader_contact() const { return leader_contact_; }
  const RaftLog& log() const { return log_; }

  void check_invariants() const;

 private:
  Raft(const Config& config, Rng rng, Logger& logger);

  // Role transitions.
  void become_follower(Instant now, Term term, NodeId leader);
  void become_pre_candidate(Instant now);
  void become_candidate(Instant now);
  void become_leader(Instant now);
  void start_election(Instant now, bool pre_vote, bool transfer);
  void reset_election_deadline(Instant now);
  void observe(Instant now);
  void set_leader(Instant now, NodeId leader);
  void heard_from_leader(Instant now, NodeId leader);
  void on_membership_changed(Instant now);
  void abort_reads();
  void abort_transfer(std::string_view why);

  // Message handlers, named after the protocol.
  bool check_term(Instant now, const Message& m);
  void handle_vote_request(Instant now, const Message& m);
  void handle_vote_response(Instant now, const Message& m);
  void handle_append(Instant now, const Message& m);
  void handle_append_response(Instant now, const Message& m);
  void handle_heartbeat(Instant now, const Message& m);
  void handle_heartbeat_response(Instant now, const Message& m);
  void handle_install_snapshot(Instant now, const Message& m);
  void handle_install_snapshot_response(Instant now, const Message& m);
  void handle_timeout_now(Instant now, const Message& m);

  // Leader machinery.
  void on_heartbeat_timeout(Instant now);
  void on_check_quorum_timeout(Instant now);
  void broadcast_append();
  void flush_appends();
  void broadcast_heartbeat();
  bool send_append(NodeId to, bool allow_empty);
  void send_snapshot_chunk(NodeId to, Progress& pr);
  void send(Message m);
  bool maybe_commit();
  void after_commit_advanced(Instant now);
  void append_entry(EntryType type, Bytes data);
  void sync_progress();
  void release_reads();
  void start_read_round(std::vector<std::pair<ReadId, LogIndex>> reads);
  void maybe_send_timeout_now(NodeId to);
  bool committed_in_current_term() const;
  bool in_lease(Instant now) const;
  bool is_voter() const { return log_.membership().is_voter(config_.id); }
  Error not_leader_error() const;

  Config config_;
  Rng rng_;
  Logger* logger_;
  RaftLog log_;

  Role role_ = Role::kFollower;
  Term term_;
  NodeId vote_;
  NodeId leader_;
  Instant now_;
  bool started_ = false;  // timers start at the first input (restore() has no `now`)
  Instant leader_contact_ = Instant::never();  // last message from the current leader

  Instant election_deadline_ = Instant::never();
  Instant heartbeat_deadline_ = Instant::never();
  Instant check_quorum_deadline_ = Instant::never();
  Instant transfer_deadline_ = Instant::never();

  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;  // leader only; every member but this node
  NodeId transferee_;

  // ReadIndex: reads waiting for the first commit of this term, and reads waiting for a quorum
  // to acknowledge their heartbeat round.
  struct PendingRead {
    ReadId id;
    LogIndex index;
    std::uint64_t round = 0;
  };
  std::vector<ReadId> reads_waiting_commit_;
  std::deque<PendingRead> reads_pending_;
  std::uint64_t read_round_ = 0;

  // A snapshot being received in chunks (follower).
  std::optional<Snapshot> incoming_snapshot_;
  // The latest snapshot, kept to send to followers; its data may be empty at index 0.
  Snapshot snapshot_;

  // Effects queued for the next Ready.
  std::vector<Message> msgs_;
  std::vector<ReadState> reads_ready_;
  std::vector<ReadId> reads_aborted_;
  std::optional<Snapshot> snapshot_to_install_;
  HardState last_hard_state_;
  SoftState last_soft_state_;
  bool ready_in_flight_ = false;
  bool snapshot_in_flight_ = false;  // the Ready in flight carries a snapshot to install
  // Leader: proposals appended since the last Ready (replicated when it is taken), and a commit
  // index that moved and must reach every follower.
  bool append_pending_ = false;
  bool commit_notice_pending_ = false;
};

}  // namespace praetor::raft
