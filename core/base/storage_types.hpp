// Storage operations as data. Storage is a flat namespace of named files ("raft/wal-...",
// "node-id"). A WriteBatch is applied in order; when sync is set the host makes it durable
// before completing it with Process::on_written(ticket, result). Without sync, a crash may drop
// or tear the batch.
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
