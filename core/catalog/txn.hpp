// Transactions (consul-compat §3.7, PUT /v1/txn): KV operations applied all together at one
// index, or not at all.
//
// All or nothing by an undo log (KvStore::Undo), not by validating first and applying after:
// each op runs against the state the ops before it left, as in Consul (a `get` after a `set` of
// the same key sees the new value; a `check-index` after a `set` sees the new index), and every
// failing op is reported, not only the first. Validating first would need a second model of
// every verb's effect on a shadow state; the undo log reuses the store's own operations and
// touches only the keys the transaction touched. On any error the log puts those keys and the
// table index back, so a failed transaction changes nothing.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/catalog/command.hpp"
#include "core/catalog/kv.hpp"
#include "core/catalog/session.hpp"

namespace praetor::catalog {

struct TxnError {
  std::size_t op_index = 0;
  std::string what;  // Consul's text
  friend bool operator==(const TxnError&, const TxnError&) = default;
};

struct TxnResult {
  // One entry per op that yields one (get-tree yields many; delete, delete-tree,
  // check-not-exists none). Only `get` and `get-tree` keep the value; the others carry the
  // entry with an empty value, shown as null, as Consul does.
  std::vector<KvEntry> results;
  std::vector<TxnError> errors;  // non-empty: nothing was changed and results is empty
  friend bool operator==(const TxnResult&, const TxnResult&) = default;
};

std::string_view txn_verb_name(TxnVerb verb);
std::optional<TxnVerb> parse_txn_verb(std::string_view name);
// Whether every op only reads (get, get-tree, check-*): such a transaction need not be logged.
bool txn_is_read_only(const Txn& txn);

// Applies txn at index: every op, or (on any error) none.
TxnResult apply_txn(std::uint64_t index, KvStore& kv, const SessionTable& sessions, const Txn& txn);
// A read-only transaction against the state as it is. PRAETOR_ASSERTs txn_is_read_only.
TxnResult read_txn(const KvStore& kv, const Txn& txn);

}  // namespace praetor::catalog
