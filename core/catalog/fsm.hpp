// The catalog state machine: applies committed entries in order, exactly once. Whatever
// commits entries (the dev agent's local log now, Raft later) calls apply() with the entry's
// index and payload. A committed entry that cannot be decoded is a crash, never a skip, because
// replicas must not diverge; a failed CAS is a normal result.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"
#include "core/base/instant.hpp"
#include "core/base/result.hpp"
#include "core/catalog/command.hpp"
#include "core/catalog/kv.hpp"
#include "core/catalog/session.hpp"
#include "core/catalog/state.hpp"
#include "core/catalog/txn.hpp"

namespace praetor::catalog {

// What applying one command did. Every replica computes the same result from the same entry, so
// a refusal is as deterministic as a success: it is an answer for the client, not a divergence.
struct ApplyResult {
  bool success = true;  // false: a condition did not hold (CAS, conditional delete, lock held)
  std::string error;    // non-empty: the command was refused and changed nothing (Consul's text)
  std::optional<TxnResult> txn =
      std::nullopt;  // a Txn's per-op results or errors (success: no errors)
  friend bool operator==(const ApplyResult&, const ApplyResult&) = default;
};

class Fsm {
 public:
  // `now` is the applying server's clock. It never changes the replicated state: it only dates
  // lock-delays, which are local (see lock_delay_until). apply_command's default serves tests and
  // tools that never look at lock-delays.
  ApplyResult apply(LogIndex index, ByteView payload, Instant now);
  ApplyResult apply_command(LogIndex index, const Command& command, Instant now = Instant::zero());

  Bytes snapshot() const;
  Result<void> restore(ByteView data);
  // PUT /v1/snapshot's check before it proposes a Restore: the image decodes and passes every
  // check the Restore's apply makes (the same on every replica), so a bad image is the client's
  // 400 and never a log entry.
  static Result<void> check_restore_image(ByteView state);

  LogIndex applied_index() const { return applied_; }
  const KvStore& kv() const { return kv_; }
  // The catalog of nodes, services and checks.
  const CatalogState& catalog() const { return catalog_; }
  void check_invariants() const;

  // ---- Sessions, locks, transactions -------------------------------------------------------
  const SessionTable& sessions() const { return sessions_; }

  // Until when no session may acquire key: after a session holding it was destroyed or
  // invalidated, for that session's LockDelay (at most 60 s) from when this server applied it.
  // Instant::zero() when there is none. Like Consul's, this is not replicated state and not in
  // the snapshot: each server dates it with its own clock, and the leader checks it before it
  // proposes a lock (decision D29).
  Instant lock_delay_until(const std::string& key) const;

  // Invalidation entry points for the node/check catalog's apply cases: each destroys, within
  // the apply at `index`, every session the event breaks (releasing or deleting the keys they
  // hold, with their lock-delays dated `now`) and returns their ids.
  //   - a check went critical, or was deregistered (also each check of a deregistered service):
  std::vector<std::string> invalidate_sessions_for_check(std::uint64_t index,
                                                         const std::string& node,
                                                         const std::string& check_id, Instant now);
  //   - a node was deregistered:
  std::vector<std::string> invalidate_sessions_for_node(std::uint64_t index,
                                                        const std::string& node, Instant now);

  // Every table and index, and the applied index (a restored snapshot equals its source).
  friend bool operator==(const Fsm& a, const Fsm& b) {
    return a.applied_ == b.applied_ && a.kv_.index() == b.kv_.index() &&
           a.kv_.entries() == b.kv_.entries() && a.catalog_ == b.catalog_ &&
           a.sessions_.index() == b.sessions_.index() && a.sessions_.all() == b.sessions_.all();
  }

 private:
  // The node/check catalog as sessions see it (fsm.cpp).
  class Facts;
  // Destroys a session: its keys are released (behavior release) or deleted (behavior delete),
  // and each gets a lock-delay. False when there is no such session.
  bool destroy_session(std::uint64_t index, const std::string& id, Instant now);
  ApplyResult apply_session_command(std::uint64_t index, const Command& command, Instant now);
  ApplyResult apply_catalog_write(std::uint64_t index, const CatalogWrite& write, Instant now);

  // A snapshot image decoded and checked (codec.cpp), not yet installed.
  struct Image {
    KvStore kv;
    CatalogState catalog;
    SessionTable sessions;
    std::uint64_t applied = 0;
  };
  static Result<Image> decode_image(ByteView data);
  // The image as a Restore applied at `index` installs it (command.hpp, decision D41).
  static Result<Image> rebase_image(Image image, std::uint64_t index);
  ApplyResult apply_restore(std::uint64_t index, const Restore& command, Instant now);

  KvStore kv_;
  CatalogState catalog_;
  LogIndex applied_{0};
  SessionTable sessions_;
  std::map<std::string, Instant> lock_delays_;  // key -> end of its lock-delay; local only
};

}  // namespace praetor::catalog
