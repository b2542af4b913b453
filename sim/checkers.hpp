// History checkers.
//
// check_kv_linearizable: a Wing-Gong-Lowe search with Lowe's memoisation (the algorithm of
// Porcupine), run per key over a history of PUT/GET/DELETE/CAS operations. The model per key is
// a register holding an optional value. Values written by the workload are unique, so a CAS on a
// ModifyIndex read earlier is modelled as "swap if the current value is the one read then".
//
// Operations whose outcome the client never learned (lost connection, 5xx) may or may not have
// taken effect: their return time is treated as infinite, so they linearize anywhere after their
// call, including after everything else (which is the same as never happening). Reads without an
// answer carry no information and are dropped. Definite failures (4xx) had no effect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/instant.hpp"

namespace praetor::sim {

struct KvOp {
  enum class Kind : std::uint8_t { kPut, kGet, kDelete, kCas };
  enum class Outcome : std::uint8_t { kOk, kFail, kUnknown };
  std::uint64_t client = 0;
  Kind kind = Kind::kGet;
  std::string key;
  std::string value;                    // kPut, kCas: what is written
  std::optional<std::string> expected;  // kCas: the value believed current; nullopt = absent
  Instant call;
  Instant ret;  // meaningful unless kUnknown
  Outcome outcome = Outcome::kUnknown;
  std::optional<std::string> read;  // kGet + kOk: the value read; nullopt = absent (404)
  bool swapped = false;             // kCas + kOk: whether the CAS applied
};

std::string render_op(const KvOp& op);

struct CheckResult {
  bool ok = true;
  bool exhausted = false;  // the search hit its step budget: inconclusive, reported as failure
  std::size_t keys = 0;
  std::size_t ops = 0;
  std::string detail;  // for a failure: the key and its operations
};

CheckResult check_kv_linearizable(const std::vector<KvOp>& history,
                                  std::uint64_t max_steps = 2'000'000);

// check_txn_linearizable: the same search over /v1/txn transactions, against a model of the whole
// key space (key -> value, or absent), so that a transaction touching several keys is checked as
// one atomic step (a token moved from key A to key B with a cas on each is never duplicated nor
// lost in the order found). As above, written values are unique, so an Index sent with cas,
// check-index or delete-cas is modelled as "the value read with that ModifyIndex is still there".
// A 409 is a definite failure that still carries information: at its linearization point the
// model must fail exactly the ops it named (ops see the effects of the ops before them; a failing
// op has none). 5xx and lost answers are unknown; unknown transactions that only read are dropped.
struct TxnSubOp {
  enum class Verb : std::uint8_t { kSet, kCas, kGet, kCheckIndex, kDelete, kDeleteCas };
  Verb verb = Verb::kGet;
  std::string key;
  std::string value;                    // kSet, kCas: what is written
  std::optional<std::string> expected;  // kCas, kCheckIndex, kDeleteCas; nullopt = absent (Index 0)
};

struct KvTxn {
  enum class Outcome : std::uint8_t { kOk, kConflict, kUnknown };
  std::uint64_t client = 0;
  std::vector<TxnSubOp> ops;
  Instant call;
  Instant ret;  // meaningful unless kUnknown
  Outcome outcome = Outcome::kUnknown;
  std::vector<std::optional<std::string>> reads;  // kOk: per op, what a kGet read
  std::vector<std::size_t> failed;                // kConflict: the OpIndexes named, ascending
};

std::string render_txn(const KvTxn& txn);

CheckResult check_txn_linearizable(const std::vector<KvTxn>& history,
                                   std::uint64_t max_steps = 4'000'000);

}  // namespace praetor::sim
