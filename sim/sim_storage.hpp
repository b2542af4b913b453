// A simulated node's disk. Files live in two layers: the durable map (what survives a crash) and
// an ordered list of pending operations (written but not yet fsynced). A synced batch, once the
// world completes it, makes every pending op up to and including its own durable, as fsync does.
// A crash keeps a random prefix of the pending ops and may tear the first dropped append (a
// random prefix of its bytes reaches the disk), which is what a power cut does to a page cache.
// The storage outlives the Process: crash + restart builds a new Process over what survived.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "core/base/rng.hpp"
#include "core/node/env.hpp"

namespace praetor::sim {

enum class CrashMode : std::uint8_t {
  kDropUnsynced,  // every pending op is lost
  kRandomPrefix,  // a random prefix of the pending ops survives, the next append may be torn
};

struct CrashReport {
  std::size_t pending = 0;  // ops not yet durable at the crash
  std::size_t kept = 0;     // of those, how many survived whole
  bool torn = false;        // one more append survived in part
};

class SimStorage {
 public:
  // Applies a batch to the pending layer, tagged with `batch_id` (increasing per storage).
  void apply(const node::WriteBatch& batch, std::uint64_t batch_id);
  // fsync: every pending op with a tag <= batch_id becomes durable.
  void sync_through(std::uint64_t batch_id);
  CrashReport crash(Rng& rng, CrashMode mode);

  // The files as the process would read them now (durable + pending).
  node::StoredFiles files() const;
  const node::StoredFiles& durable() const { return durable_; }
  std::size_t pending_ops() const { return pending_.size(); }

  // Corruption fault: flips one random bit of one random byte in a durable, non-empty file.
  // Returns the file name, or "" when there is nothing to corrupt.
  std::string corrupt_random_byte(Rng& rng);

  // Applies one operation to a file map (POSIX semantics: truncate may extend with zeros).
  static void apply_op(node::StoredFiles& files, const node::WriteOp& op);

 private:
  struct Pending {
    std::uint64_t batch_id;
    node::WriteOp op;
  };
  node::StoredFiles durable_;
  std::deque<Pending> pending_;
};

}  // namespace praetor::sim
