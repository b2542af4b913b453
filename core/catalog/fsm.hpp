// The catalog state machine: applies committed entries in order, exactly once. Whatever
// commits entries (the dev agent's local log now, Raft later) calls apply() with the entry's
// index and payload. A committed entry that cannot be decoded is a crash, never a skip, because
// replicas must not diverge; a failed CAS is a normal result.
#pragma once

#include <cstdint>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"
#include "core/base/result.hpp"
#include "core/catalog/command.hpp"
#include "core/catalog/kv.hpp"

namespace praetor::catalog {

struct ApplyResult {
  bool success = true;  // false: a CAS or conditional delete did not match
  friend bool operator==(const ApplyResult&, const ApplyResult&) = default;
};

class Fsm {
 public:
  ApplyResult apply(LogIndex index, ByteView payload);
  ApplyResult apply_command(LogIndex index, const Command& command);

  Bytes snapshot() const;
  Result<void> restore(ByteView data);

  LogIndex applied_index() const { return applied_; }
  const KvStore& kv() const { return kv_; }
  void check_invariants() const;

 private:
  KvStore kv_;
  LogIndex applied_{0};
};

}  // namespace praetor::catalog
