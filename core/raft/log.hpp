// RaftLog: the in-memory log of one node, from its snapshot to its last entry, with the indexes
// that track how far the host has persisted, the cluster has committed, and the host has applied.
//
// Invariants (checked by check_invariants()):
//   snapshot.index <= applied <= committed <= last_index
//   persisted <= last_index; unstable_from in [first_index, last_index + 1]
//   entries are contiguous from snapshot.index + 1 with non-decreasing terms
//   nothing at or below `committed` is ever truncated (Raft §5.4 Leader Completeness)
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "core/raft/message.hpp"

namespace praetor::raft {

class RaftLog {
 public:
  RaftLog() = default;
  RaftLog(SnapshotMeta snapshot, std::vector<Entry> entries, LogIndex committed);

  LogIndex first_index() const { return snapshot_.index.next(); }
  LogIndex last_index() const { return LogIndex(snapshot_.index.value() + entries_.size()); }
  Term last_term() const;
  // The term of the entry at `index`; the snapshot's term at its index; nullopt when compacted
  // away or beyond the end.
  std::optional<Term> term_at(LogIndex index) const;
  bool match_term(LogIndex index, Term term) const;
  // Raft §5.4.1: a candidate's log is at least as up to date as ours.
  bool is_up_to_date(LogIndex last, Term term) const;
  const Entry& at(LogIndex index) const;

  // Entries in [lo, last_index], at most max_count and max_bytes of data (always at least one).
  std::vector<Entry> slice(LogIndex lo, std::size_t max_count, std::size_t max_bytes) const;
  std::vector<Entry> slice_all(LogIndex lo, LogIndex hi) const;

  // Leader append: entries continue the log.
  void append(Entry entry);
  // Follower append (Raft §5.3): returns the index of the last entry of the request on success,
  // nullopt when the log does not contain (prev_index, prev_term). Only conflicting suffixes are
  // truncated, so a stale or reordered append never removes entries.
  std::optional<LogIndex> maybe_append(LogIndex prev_index, Term prev_term,
                                       const std::vector<Entry>& entries);
  // Fast backtracking: the largest index <= `index` whose term is <= `term` (etcd's
  // findConflictByTerm). Used by the follower to build a hint and by the leader to apply it.
  LogIndex find_conflict_by_term(LogIndex index, Term term) const;

  void commit_to(LogIndex index);
  // Replace everything with a snapshot received from the leader.
  void restore(const SnapshotMeta& snapshot);
  // Drop entries up to snapshot.index (which the host has applied and snapshotted).
  void compact(const SnapshotMeta& snapshot);

  const SnapshotMeta& snapshot() const { return snapshot_; }
  LogIndex committed() const { return committed_; }
  LogIndex applied() const { return applied_; }
  LogIndex applying() const { return applying_; }
  LogIndex persisted() const { return persisted_; }

  // Entries not yet handed to the host for persistence; mark them handed out.
  bool has_unstable() const { return unstable_from_ <= last_index(); }
  std::vector<Entry> take_unstable();
  // The host persisted entries up to (index, term): trusted only if the entry is still ours.
  void persisted_to(LogIndex index, Term term);
  void snapshot_persisted(const SnapshotMeta& snapshot);

  bool has_committed_to_apply() const { return applying_ < committed_; }
  std::vector<Entry> take_committed(std::size_t max_count);
  void applied_to(LogIndex index);
  void skip_applying_to(LogIndex index);  // a snapshot covered these

  // The latest membership in the log (Raft thesis §4.1: a server uses the latest configuration
  // in its log, committed or not) and the index of the entry that set it (0 if the snapshot).
  const Membership& membership() const;
  LogIndex membership_index() const;
  // The membership in force at `index` (for the metadata of a snapshot taken there).
  Membership membership_at(LogIndex index) const;

  void check_invariants() const;

 private:
  void truncate_from(LogIndex index);
  std::size_t offset(LogIndex index) const;

  SnapshotMeta snapshot_;
  std::vector<Entry> entries_;
  // Config entries still in entries_, as (index, decoded membership), ascending.
  std::vector<std::pair<LogIndex, Membership>> configs_;
  LogIndex committed_;
  LogIndex applying_;  // handed to the host in Ready::committed
  LogIndex applied_;   // confirmed by advance()
  LogIndex persisted_;
  LogIndex unstable_from_{1};
};

}  // namespace praetor::raft
