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

}  // namespace praetor::sim
