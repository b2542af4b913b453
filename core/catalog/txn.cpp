#include "core/catalog/txn.hpp"

#include <fmt/format.h>

#include <array>

#include "core/base/assert.hpp"

namespace praetor::catalog {
namespace {

constexpr std::array<std::string_view, 12> kVerbNames = {
    "set",         "cas",         "lock",          "unlock",           "get",
    "get-tree",    "check-index", "check-session", "check-not-exists", "delete",
    "delete-tree", "delete-cas"};

// Go's %q for the keys in error texts: quoted, with quotes and backslashes escaped.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

KvEntry without_value(const KvEntry& e) {
  KvEntry copy = e;
  copy.value.clear();
  return copy;
}

// The read verbs, shared by read-only transactions and logged ones. Returns an error text, or ""
// with the op's results appended.
std::string read_op(const KvStore& kv, const TxnOp& op, std::vector<KvEntry>& results) {
  const KvEntry* e = kv.get(op.key);
  switch (op.verb) {
    case TxnVerb::kGet:
      if (e == nullptr) return fmt::format("key {} doesn't exist", quoted(op.key));
      results.push_back(*e);
      return {};
    case TxnVerb::kGetTree:
      for (const KvEntry* entry : kv.list(op.key)) results.push_back(*entry);
      return {};
    case TxnVerb::kCheckIndex:
      if (e == nullptr) return fmt::format("key {} doesn't exist", quoted(op.key));
      if (e->modify_index != op.index) {
        return fmt::format("current modify index {} != {}", e->modify_index, op.index);
      }
      results.push_back(without_value(*e));
      return {};
    case TxnVerb::kCheckSession:
      if (e == nullptr) return fmt::format("key {} doesn't exist", quoted(op.key));
      if (e->session != op.session) {
        return fmt::format("key {} is not locked by session {}", quoted(op.key),
                           quoted(op.session));
      }
      results.push_back(without_value(*e));
      return {};
    case TxnVerb::kCheckNotExists:
      if (e != nullptr) return fmt::format("key {} exists", quoted(op.key));
      return {};
    default:
      PRAETOR_ASSERT_MSG(false, "{} is not a read verb", txn_verb_name(op.verb));
  }
  return {};
}

// One write verb against the live store; the undo log has saved what it touches.
std::string write_op(std::uint64_t index, KvStore& kv, const SessionTable& sessions,
                     const TxnOp& op, std::vector<KvEntry>& results) {
  const auto written = [&] { results.push_back(without_value(*kv.get(op.key))); };
  switch (op.verb) {
    case TxnVerb::kSet:
      kv.set(index, op.key, op.value, op.flags);
      written();
      return {};
    case TxnVerb::kCas:
      if (!kv.cas(index, op.key, op.value, op.flags, op.index)) {
        return fmt::format("failed to set key {}, index is stale", quoted(op.key));
      }
      written();
      return {};
    case TxnVerb::kLock:
      if (sessions.get(op.session) == nullptr) {
        return fmt::format("invalid session {}", quoted(op.session));
      }
      if (!kv.lock(index, op.key, op.value, op.flags, op.session)) {
        return fmt::format("failed to lock key {}, lock is already held", quoted(op.key));
      }
      written();
      return {};
    case TxnVerb::kUnlock:
      if (!kv.unlock(index, op.key, op.value, op.flags, op.session)) {
        return fmt::format(
            "failed to unlock key {}, lock isn't held, or is held by another "
            "session",
            quoted(op.key));
      }
      written();
      return {};
    case TxnVerb::kDelete:
      kv.remove(index, op.key);
      return {};
    case TxnVerb::kDeleteTree:
      kv.remove_tree(index, op.key);
      return {};
    case TxnVerb::kDeleteCas:
      if (!kv.remove_cas(index, op.key, op.index)) {
        return fmt::format("failed to delete key {}, index is stale", quoted(op.key));
      }
      return {};
    default:
      return read_op(kv, op, results);
  }
}

bool is_read_verb(TxnVerb verb) {
  return verb == TxnVerb::kGet || verb == TxnVerb::kGetTree || verb == TxnVerb::kCheckIndex ||
         verb == TxnVerb::kCheckSession || verb == TxnVerb::kCheckNotExists;
}

}  // namespace

std::string_view txn_verb_name(TxnVerb verb) {
  const auto i = static_cast<std::size_t>(verb);
  return i < kVerbNames.size() ? kVerbNames[i] : "unknown";
}

std::optional<TxnVerb> parse_txn_verb(std::string_view name) {
  for (std::size_t i = 0; i < kVerbNames.size(); ++i) {
    if (kVerbNames[i] == name) return static_cast<TxnVerb>(i);
  }
  return std::nullopt;
}

bool txn_is_read_only(const Txn& txn) {
  for (const TxnOp& op : txn.ops) {
    if (!is_read_verb(op.verb)) return false;
  }
  return true;
}

TxnResult apply_txn(std::uint64_t index, KvStore& kv, const SessionTable& sessions,
                    const Txn& txn) {
  TxnResult out;
  KvStore::Undo undo(kv);
  for (std::size_t i = 0; i < txn.ops.size(); ++i) {
    const TxnOp& op = txn.ops[i];
    if (op.verb == TxnVerb::kDeleteTree) {
      undo.save_prefix(op.key);
    } else if (!is_read_verb(op.verb)) {
      undo.save(op.key);
    }
    // Like Consul, carry on after a failed op, so that every failing op is reported.
    std::string error = write_op(index, kv, sessions, op, out.results);
    if (!error.empty()) out.errors.push_back(TxnError{i, std::move(error)});
  }
  if (!out.errors.empty()) {
    undo.roll_back();
    out.results.clear();
  }
  return out;
}

TxnResult read_txn(const KvStore& kv, const Txn& txn) {
  PRAETOR_ASSERT(txn_is_read_only(txn));
  TxnResult out;
  for (std::size_t i = 0; i < txn.ops.size(); ++i) {
    std::string error = read_op(kv, txn.ops[i], out.results);
    if (!error.empty()) out.errors.push_back(TxnError{i, std::move(error)});
  }
  if (!out.errors.empty()) out.results.clear();
  return out;
}

}  // namespace praetor::catalog
