// Raft's durable state on top of the WAL: turns the durable parts of a raft::Ready into one
// synced WriteBatch, and rebuilds raft::PersistentState from the files a host recovered.
//
// Records in the WAL (types below): the hard state (term, vote, commit; the last one wins), log
// entries (an entry at index i replaces every stored entry >= i: Raft's suffix overwrite), and a
// log reset, written when a snapshot from the leader replaces the whole log: every entry stored
// before it is dropped. Entries at or below the snapshot file's index are always dropped.
//
// The snapshot itself is the file `raft/snapshot` (wal::encode_snapshot_file over the encoded
// meta and the state machine image), replaced atomically. Compaction writes the snapshot, starts
// a new segment holding the current hard state, then removes the prefix of segments whose
// entries the snapshot covers (never one holding a later entry). Every step leaves a state recovery accepts: a crash
// between them at worst keeps old segments whose entries recovery drops as covered.
#pragma once

#include <map>

#include "core/base/result.hpp"
#include "core/base/storage_types.hpp"
#include "core/raft/ready.hpp"
#include "core/wal/wal.hpp"

namespace praetor::node {

class RaftStorage {
 public:
  enum RecordType : std::uint8_t { kHardState = 1, kEntry = 2, kLogReset = 3 };
  static constexpr std::string_view kSnapshotFile = "raft/snapshot";

  struct Recovered;
  // Reads the WAL and snapshot out of recovered files. A torn tail is cut; corruption in the
  // middle fails with the file and offset (the server must refuse to start).
  static Result<Recovered> recover(const StoredFiles& files, wal::Options options = {});

  // The synced batch for one Ready (snapshot, hard state, entries), or nullopt when the Ready
  // has nothing a crash must not forget (a commit index alone is kept for the next batch). The
  // host writes it before sending the Ready's acknowledgements and votes.
  std::optional<WriteBatch> persist(const raft::Ready& ready);
  // After raft.compact(index, data): persist the snapshot and drop covered segments.
  WriteBatch save_snapshot(const raft::Snapshot& snapshot);

  // The latest hard state; its term and vote are always in the last batch persist() returned.
  const raft::HardState& hard_state() const { return hard_state_; }
  std::size_t segments() const { return segment_last_index_.size(); }

 private:
  RaftStorage(wal::Options options, const wal::Recovered& recovered);
  // `then`: records that follow the snapshot's own in the same WAL append (one append per
  // batch: two appends in one synced batch could reach the disk out of order, and a crash
  // between them would leave a hole that recovery must refuse as corruption).
  std::vector<WriteOp> write_snapshot_ops(const raft::Snapshot& snapshot, bool reset_log,
                                          std::vector<wal::Record> then = {});

  wal::Writer writer_;
  raft::HardState hard_state_;          // the latest the Raft core reported
  raft::HardState written_hard_state_;  // the last one written to the WAL
  // Highest entry index stored in each live segment (0 when it holds none).
  std::map<std::uint64_t, std::uint64_t> segment_last_index_;
};

struct RaftStorage::Recovered {
  RaftStorage storage;
  raft::PersistentState state;
  bool found = false;  // false: nothing was stored (a brand-new server)
  bool torn_tail_cut = false;
};

}  // namespace praetor::node
