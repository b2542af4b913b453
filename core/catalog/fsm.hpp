// The catalog state machine: applies committed entries in order, exactly once. Whatever
// commits entries (the dev agent's local log now, Raft later) calls apply() with the entry's
// index and payload. A committed entry that cannot be decoded is a crash, never a skip, because
// replicas must not diverge; a failed CAS is a normal result.
#pragma once

#include <cstdint>
#include <string>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"
#include "core/base/result.hpp"
#include "core/catalog/command.hpp"
#include "core/catalog/kv.hpp"
#include "core/catalog/state.hpp"

namespace praetor::catalog {

// What applying one command did. Every replica computes the same result from the same entry, so
// a refusal is as deterministic as a success: it is an answer for the client, not a divergence.
struct ApplyResult {
  bool success = true;  // false: a condition did not hold (CAS, conditional delete, lock held)
  std::string error;    // non-empty: the command was refused and changed nothing (Consul's text)
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
  // The catalog of nodes, services and checks.
  const CatalogState& catalog() const { return catalog_; }
  void check_invariants() const;

  // Every table and index, and the applied index (a restored snapshot equals its source).
  friend bool operator==(const Fsm& a, const Fsm& b) {
    return a.applied_ == b.applied_ && a.kv_.index() == b.kv_.index() &&
           a.kv_.entries() == b.kv_.entries() && a.catalog_ == b.catalog_;
  }

 private:
  KvStore kv_;
  CatalogState catalog_;
  LogIndex applied_{0};
};

}  // namespace praetor::catalog
