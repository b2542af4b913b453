#include "sim/workload.hpp"

#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "core/base/bytes.hpp"

namespace praetor::sim {

namespace {

bool parse_u64(std::string_view text, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

}  // namespace

KvWorkload::KvWorkload(World& world, KvWorkloadOptions options, Rng rng)
    : world_(world), options_(std::move(options)), rng_(rng), clients_(options_.clients) {
  PRAETOR_ASSERT(!options_.targets.empty());
  PRAETOR_ASSERT(options_.clients > 0 && options_.keys > 0);
}

void KvWorkload::start() {
  world_.on_reply([this](const ClientReply& r) { on_reply(r); });
  for (std::size_t c = 0; c < clients_.size(); ++c) {
    issue(c, rng_.between(Duration::zero(), options_.think_max));
  }
}

std::string KvWorkload::counts() const {
  std::size_t ok = 0, fail = 0, unknown = 0;
  for (const auto& op : history_) {
    if (op.outcome == KvOp::Outcome::kOk) ++ok;
    if (op.outcome == KvOp::Outcome::kFail) ++fail;
    if (op.outcome == KvOp::Outcome::kUnknown) ++unknown;
  }
  return fmt::format("ops={} ok={} fail={} unknown={} pending={}", history_.size(), ok, fail,
                     unknown, outstanding_.size());
}

void KvWorkload::issue(std::size_t client, Duration delay) {
  if (issued_ >= options_.operations) return;
  ++issued_;
  KvOp op;
  op.client = client;
  op.key = fmt::format("{}{}", options_.key_prefix, rng_.uniform(options_.keys));
  node::HttpRequest req;
  req.path = "/v1/kv/" + op.key;
  bool json = false;
  std::uint64_t roll = rng_.uniform(100);
  const Known* known = nullptr;
  if (auto it = clients_[client].known.find(op.key); it != clients_[client].known.end()) {
    known = &it->second;
  }
  if (roll < 30 || (roll >= 85 && known == nullptr)) {
    op.kind = KvOp::Kind::kPut;
    op.value = fmt::format("v{}", next_value_++);
    req.method = "PUT";
    req.body = op.value;
  } else if (roll < 50) {
    op.kind = KvOp::Kind::kGet;
    req.method = "GET";
    req.query.emplace_back("raw", "");
  } else if (roll < 75) {
    op.kind = KvOp::Kind::kGet;
    req.method = "GET";
    json = true;
  } else if (roll < 85) {
    op.kind = KvOp::Kind::kDelete;
    req.method = "DELETE";
  } else {
    op.kind = KvOp::Kind::kCas;
    op.value = fmt::format("v{}", next_value_++);
    op.expected = known->value;
    req.method = "PUT";
    req.body = op.value;
    req.query.emplace_back("cas", std::to_string(known->value ? known->modify_index : 0));
  }
  if (req.method == "GET" && !options_.read_mode.empty())
    req.query.emplace_back(options_.read_mode, "");
  std::string target = options_.targets[rng_.uniform(options_.targets.size())];
  op.call = world_.now();  // the client's view: from submission to the answer's arrival
  history_.push_back(std::move(op));
  RequestId id = world_.submit(target, std::move(req), delay);
  outstanding_[id] = Pending{client, history_.size() - 1, json};
}

void KvWorkload::on_reply(const ClientReply& reply) {
  auto it = outstanding_.find(reply.id);
  if (it == outstanding_.end()) return;  // another workload's request
  Pending p = it->second;
  outstanding_.erase(it);
  KvOp& op = history_[p.op];
  op.ret = reply.answered;
  interpret(p, reply, op);
  Duration think = rng_.between(Duration::zero(), options_.think_max);
  if (op.outcome != KvOp::Outcome::kOk) think += options_.backoff;
  issue(p.client, think);
}

void KvWorkload::protocol_error(const KvOp& op, std::string what) {
  protocol_errors_.push_back(fmt::format("{}: {}", render_op(op), what));
}

void KvWorkload::interpret(const Pending& p, const ClientReply& reply, KvOp& op) {
  op.outcome = KvOp::Outcome::kUnknown;
  if (reply.status == ClientReply::Status::kRefused) {
    op.outcome = KvOp::Outcome::kFail;  // never reached a running process
    return;
  }
  if (reply.status != ClientReply::Status::kAnswered) return;
  const node::HttpResponse& r = reply.response;
  std::uint64_t index = 0;
  auto header = r.header("X-Consul-Index");
  // Consul sets the index on answers from the state store (200, and 404 for a missing key);
  // errors such as 500 "No cluster leader" carry none.
  bool from_store = r.status == 200 || (r.status == 404 && op.kind == KvOp::Kind::kGet);
  if (from_store && (!header || !parse_u64(*header, index))) {
    protocol_error(op, fmt::format("status {} without a numeric X-Consul-Index", r.status));
  }
  if (r.status >= 500) {
    for (const auto& e : options_.definite_errors) {
      if (r.body == e) op.outcome = KvOp::Outcome::kFail;
    }
    return;
  }
  if (op.kind == KvOp::Kind::kGet) {
    interpret_get(p, r, op);
    return;
  }
  if (r.status != 200) {
    op.outcome = KvOp::Outcome::kFail;
    protocol_error(op, fmt::format("status {} body {}", r.status, r.body));
    return;
  }
  if (r.body != "true" && !(op.kind == KvOp::Kind::kCas && r.body == "false")) {
    protocol_error(op, fmt::format("body {:?} is not true/false", r.body));
    return;
  }
  op.outcome = KvOp::Outcome::kOk;
  op.swapped = r.body == "true";
  if (op.kind == KvOp::Kind::kPut || op.kind == KvOp::Kind::kDelete) {
    // A plain write of a value answers "true" or fails; "false" only comes from a CAS.
    if (!op.swapped) protocol_error(op, "plain write answered false");
  }
}

void KvWorkload::interpret_get(const Pending& p, const node::HttpResponse& r, KvOp& op) {
  Known& known = clients_[p.client].known[op.key];
  if (r.status == 404) {
    op.outcome = KvOp::Outcome::kOk;
    op.read = std::nullopt;
    if (p.json) known = Known{};
    return;
  }
  if (r.status != 200) {
    protocol_error(op, fmt::format("read status {}", r.status));
    return;
  }
  if (!p.json) {
    op.outcome = KvOp::Outcome::kOk;
    op.read = r.body;
    return;
  }
  nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array() || doc.size() != 1 || !doc[0].is_object() ||
      doc[0].value("Key", "") != op.key || !doc[0].contains("ModifyIndex") ||
      !doc[0]["ModifyIndex"].is_number_unsigned()) {
    protocol_error(op, fmt::format("bad JSON read {}", r.body));
    return;
  }
  const auto& value = doc[0]["Value"];
  Bytes decoded;
  if (value.is_string()) {
    if (!base64_decode(value.get<std::string>(), decoded)) {
      protocol_error(op, "Value is not base64");
      return;
    }
  } else if (!value.is_null()) {
    protocol_error(op, "Value is neither a string nor null");
    return;
  }
  op.outcome = KvOp::Outcome::kOk;
  op.read = to_string(decoded);
  known.value = op.read;
  known.modify_index = doc[0]["ModifyIndex"].get<std::uint64_t>();
}

}  // namespace praetor::sim
