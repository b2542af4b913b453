// PUT /v1/txn (consul-compat §3.7): KV operations applied atomically at one Raft index
// (catalog/txn.hpp). A transaction that only reads (get, get-tree, check-*) is not logged: the
// leader answers it from its state once a ReadIndex round confirms it still leads, like any
// default read (decision D30). Errors found before proposing (a lock-delay, an empty
// key, an unknown verb) are answered 409 with Consul's texts, like those found at apply.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/base/limits.hpp"
#include "core/catalog/txn.hpp"
#include "core/node/agent.hpp"
#include "core/node/config_reader.hpp"
#include "core/node/http_json.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {
namespace {

using nlohmann::json;

// A request that cannot become a transaction: an HTTP status and text.
struct Refusal {
  int status = 400;
  std::string text;
};

const json* field(const json& object, std::string_view name) {
  for (const auto& [k, v] : object.items()) {
    if (config_detail::normalize_key(k) == name) return &v;
  }
  return nullptr;
}

std::optional<Refusal> read_u64(const json& op, std::string_view name, std::uint64_t& out) {
  const json* v = field(op, name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_number_unsigned()) {
    return Refusal{400, fmt::format("Failed to parse body: {} must be an unsigned integer", name)};
  }
  out = v->get<std::uint64_t>();
  return std::nullopt;
}

std::optional<Refusal> read_string(const json& op, std::string_view name, std::string& out) {
  const json* v = field(op, name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_string()) {
    return Refusal{400, fmt::format("Failed to parse body: {} must be a string", name)};
  }
  out = v->get<std::string>();
  return std::nullopt;
}

// One {"KV": {...}} op. `verb_error` gets an unknown verb's txn error (Consul reports it per op,
// as a 409, not as a malformed body).
std::optional<Refusal> parse_kv_op(const json& kv, catalog::TxnOp& op,
                                   std::optional<std::string>& verb_error) {
  if (!kv.is_object()) return Refusal{400, "Failed to parse body: KV must be an object"};
  std::string verb;
  if (auto r = read_string(kv, "verb", verb)) return r;
  if (auto parsed = catalog::parse_txn_verb(verb)) {
    op.verb = *parsed;
  } else {
    verb_error = fmt::format("unknown KV verb \"{}\"", verb);
  }
  if (auto r = read_string(kv, "key", op.key)) return r;
  if (op.key.size() > limits::kKvMaxKeyBytes) {
    return Refusal{400, fmt::format("Key too long (max {} bytes)", limits::kKvMaxKeyBytes)};
  }
  std::string value;
  if (auto r = read_string(kv, "value", value)) return r;
  if (!base64_decode(value, op.value)) {
    return Refusal{400, "Failed to parse body: Value is not valid base64"};
  }
  if (op.value.size() > limits::kKvMaxValueBytes) {
    return Refusal{413, fmt::format("Value for key \"{}\" is too large ({} > {} bytes)", op.key,
                                    op.value.size(), limits::kKvMaxValueBytes)};
  }
  if (auto r = read_u64(kv, "flags", op.flags)) return r;
  if (auto r = read_u64(kv, "index", op.index)) return r;
  return read_string(kv, "session", op.session);
}

// The body: a JSON array of ops, each an object with one of KV, Node, Service, Check.
std::optional<Refusal> parse_txn(const std::string& body, catalog::Txn& txn,
                                 std::vector<catalog::TxnError>& errors) {
  json j = json::parse(body.empty() ? std::string("[]") : body, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return Refusal{400, "Failed to parse body: expected a JSON array of operations"};
  }
  if (j.size() > limits::kTxnMaxOps) {
    return Refusal{413, fmt::format("Transaction contains too many operations ({} > {})", j.size(),
                                    limits::kTxnMaxOps)};
  }
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_object()) return Refusal{400, "Failed to parse body: an op must be an object"};
    const json* kv = field(j[i], "kv");
    if (kv == nullptr) {
      // MERGE: Node, Service and Check ops arrive with the node/check catalog.
      return Refusal{400, fmt::format("Failed to parse body: op {} is not a KV op (only KV ops "
                                      "are supported yet)",
                                      i)};
    }
    catalog::TxnOp op;
    std::optional<std::string> verb_error;
    if (auto r = parse_kv_op(*kv, op, verb_error)) return r;
    if (verb_error) errors.push_back({i, std::move(*verb_error)});
    txn.ops.push_back(std::move(op));
  }
  return std::nullopt;
}

HttpResponse txn_response(const catalog::TxnResult& result) {
  json out;
  if (result.results.empty()) {
    out["Results"] = nullptr;
  } else {
    for (const auto& e : result.results) out["Results"].push_back({{"KV", kv_entry_json(e)}});
  }
  if (result.errors.empty()) {
    out["Errors"] = nullptr;
  } else {
    for (const auto& e : result.errors) {
      out["Errors"].push_back({{"OpIndex", e.op_index}, {"What", e.what}});
    }
  }
  // A rolled-back transaction is 409 Conflict, with the errors that caused it.
  return HttpResponse::json(result.errors.empty() ? 200 : 409, json_text(out));
}

}  // namespace

void Agent::handle_txn(RequestId id, HttpRequest& request) {
  catalog::Txn txn;
  catalog::TxnResult early;
  if (auto refused = parse_txn(request.body, txn, early.errors)) {
    respond(id, HttpResponse::text(refused->status, std::move(refused->text)));
    return;
  }
  // The leader's checks before proposing, as Consul's: a key is required (but for delete-tree),
  // a session id longer than any session's cannot lock or match (and would not fit a log
  // entry), and a key under lock-delay cannot be locked.
  const Instant now = env_->clock.now();
  for (std::size_t i = 0; i < txn.ops.size(); ++i) {
    const catalog::TxnOp& op = txn.ops[i];
    if (op.key.empty() && op.verb != catalog::TxnVerb::kDeleteTree) {
      early.errors.push_back({i, "Must provide key"});
    } else if (op.session.size() > limits::kSessionMaxIdBytes) {
      early.errors.push_back({i, fmt::format("invalid session \"{}\"", op.session)});
    } else if (op.verb == catalog::TxnVerb::kLock && fsm_.lock_delay_until(op.key) > now) {
      early.errors.push_back(
          {i, fmt::format("failed to lock key \"{}\" due to lock delay", op.key)});
    }
  }
  if (!early.errors.empty()) {
    std::sort(early.errors.begin(), early.errors.end(),
              [](const auto& a, const auto& b) { return a.op_index < b.op_index; });
    respond(id, txn_response(early));
    return;
  }
  if (catalog::txn_is_read_only(txn)) {
    // Confirm leadership first (ReadIndex), then read; ?stale reads at once.
    if (!serving_read_ && !request.has_query("stale")) {
      start_consistent_read(id, std::move(request));
      return;
    }
    HttpResponse response = txn_response(catalog::read_txn(fsm_.kv(), txn));
    decorate(response, fsm_.kv().index());
    respond(id, std::move(response));
    return;
  }
  commit(id, std::move(txn), [](const catalog::ApplyResult& result) {
    PRAETOR_ASSERT(result.txn.has_value());
    return txn_response(*result.txn);
  });
}

}  // namespace praetor::node
