// Storage operations as data. Storage is a flat namespace of named files ("raft/wal-...",
// "node-id"). A WriteBatch is applied in order; when sync is set the host makes it durable
// before completing it with Process::on_written(ticket, result). Without sync, a crash may drop
// or tear the batch. In a synced batch a kTruncate is durable before the ops after it run (the
// WAL seals a segment that way before it starts the next one).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/base/bytes.hpp"

namespace praetor {

struct WriteOp {
  enum class Kind : std::uint8_t { kAppend, kReplace, kRemove, kTruncate };
  Kind kind = Kind::kAppend;
  std::string file;
  Bytes data;              // kAppend, kReplace (atomic: temp file, fsync, rename)
  std::uint64_t size = 0;  // kTruncate
  // kAppend, a hint: the file is a log that keeps growing (a WAL segment). The host may reserve
  // space past the written end, so the stored file (also after a crash) can end in zero bytes
  // nobody wrote. Whoever appends with the hint must read such a tail as unwritten and, after a
  // restart, truncate the file to its written end (kTruncate) before appending to it again; a
  // kTruncate also tells the host where the written end is. Ignoring the hint is always correct
  // (the simulator and MemoryStorage do).
  bool preallocate = false;
};

struct WriteBatch {
  std::vector<WriteOp> ops;
  bool sync = true;
};

using StoredFiles = std::map<std::string, Bytes>;

// Applies one operation to an in-memory file map with POSIX semantics (truncate may extend with
// zeros). The simulator's disk, the dev agent's memory storage and tests share this one rule.
void apply_write_op(StoredFiles& files, const WriteOp& op);

}  // namespace praetor
