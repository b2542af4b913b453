#include "sim/model_kv.hpp"

#include <fmt/format.h>

#include <charconv>

#include "core/base/bytes.hpp"

namespace praetor::sim {

namespace {

constexpr std::string_view kLogFile = "kv.log";
constexpr std::string_view kKvPrefix = "/v1/kv/";

Bytes encode_record(char op, const std::string& key, const std::string& value) {
  Bytes out;
  out.push_back(static_cast<std::uint8_t>(op));
  put_u32_le(out, static_cast<std::uint32_t>(key.size()));
  put_u32_le(out, static_cast<std::uint32_t>(value.size()));
  out.insert(out.end(), key.begin(), key.end());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

void ModelKv::start(node::Env& env) {
  env_ = &env;
  if (mode_ == Mode::kMemory) return;
  Result<node::StoredFiles> files = env.storage.recover();
  PRAETOR_ASSERT(files.has_value());
  auto it = files->find(std::string(kLogFile));
  if (it != files->end()) {
    std::size_t valid = replay_log(it->second);
    if (valid < it->second.size()) {
      // Cut the torn tail before appending, or the next record would land after garbage and
      // the log would be unreadable from there on after the next crash.
      env.logger.warn("kv", "truncating torn log tail: {} of {} bytes valid", valid,
                      it->second.size());
      node::WriteBatch batch;
      batch.ops.push_back(
          node::WriteOp{node::WriteOp::Kind::kTruncate, std::string(kLogFile), {}, valid});
      truncating_ = true;
      in_flight_ = true;
      env.storage.write(std::move(batch), next_ticket_);
      next_ticket_ = next_ticket_.next();
    }
  }
  env.logger.info("kv", "recovered {} keys at index {}", entries_.size(), index_);
}

std::size_t ModelKv::replay_log(const Bytes& log) {
  std::size_t at = 0;
  // A torn tail (a record cut short by a crash) ends the log: it was never acknowledged.
  while (at + 9 <= log.size()) {
    char op = static_cast<char>(log[at]);
    std::size_t key_len = get_u32_le(&log[at + 1]);
    std::size_t value_len = get_u32_le(&log[at + 5]);
    if (at + 9 + key_len + value_len > log.size()) break;
    Write w;
    w.op = op;
    w.key.assign(log.begin() + static_cast<std::ptrdiff_t>(at + 9),
                 log.begin() + static_cast<std::ptrdiff_t>(at + 9 + key_len));
    w.value.assign(log.begin() + static_cast<std::ptrdiff_t>(at + 9 + key_len),
                   log.begin() + static_cast<std::ptrdiff_t>(at + 9 + key_len + value_len));
    apply(w);
    at += 9 + key_len + value_len;
  }
  return at;
}

void ModelKv::reply(RequestId id, int status, std::string body) {
  node::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("X-Consul-Index", std::to_string(index_));
  env_->responder.respond(id, std::move(r));
}

void ModelKv::on_client_request(RequestId id, node::HttpRequest request) {
  if (request.path == "/v1/status/leader") {
    reply(id, 200, "\"127.0.0.1:8300\"");
    return;
  }
  if (request.path.rfind(kKvPrefix, 0) != 0) {
    reply(id, 404, "not found");
    return;
  }
  std::string key = request.path.substr(kKvPrefix.size());
  if (request.method == "GET") {
    handle_read(id, request, key);
  } else if (request.method == "PUT" || request.method == "DELETE") {
    handle_write(id, request, key);
  } else {
    reply(id, 405, "method not allowed");
  }
}

void ModelKv::handle_read(RequestId id, const node::HttpRequest& request, const std::string& key) {
  const auto& table = mode_ == Mode::kStaleReads ? stale_ : entries_;
  auto it = table.find(key);
  if (it == table.end()) {
    reply(id, 404, "");
    return;
  }
  if (request.has_query("raw")) {
    reply(id, 200, it->second.value);
    return;
  }
  reply(id, 200,
        fmt::format("[{{\"LockIndex\":0,\"Key\":\"{}\",\"Flags\":0,\"Value\":\"{}\","
                    "\"CreateIndex\":{},\"ModifyIndex\":{}}}]",
                    json_escape(key), base64_encode(to_bytes(it->second.value)),
                    it->second.create_index, it->second.modify_index));
}

void ModelKv::handle_write(RequestId id, const node::HttpRequest& request, const std::string& key) {
  Write w;
  w.id = id;
  w.op = request.method == "PUT" ? 'P' : 'D';
  w.key = key;
  w.value = request.body;
  if (auto cas = request.query_value("cas")) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(cas->data(), cas->data() + cas->size(), v);
    if (ec != std::errc() || p != cas->data() + cas->size()) {
      reply(id, 400, "invalid cas index");
      return;
    }
    w.cas = v;
  }
  queue_.push_back(std::move(w));
  pump();
}

bool ModelKv::cas_holds(const Write& w) const {
  if (!w.cas) return true;
  auto it = entries_.find(w.key);
  if (*w.cas == 0) return it == entries_.end();
  return it != entries_.end() && it->second.modify_index == *w.cas;
}

bool ModelKv::apply(const Write& w) {
  if (!cas_holds(w)) return false;
  stale_ = entries_;
  ++index_;
  if (w.op == 'D') {
    entries_.erase(w.key);
    return true;
  }
  auto [it, inserted] = entries_.try_emplace(w.key);
  if (inserted) it->second.create_index = index_;
  it->second.modify_index = index_;
  it->second.value = w.value;
  return true;
}

void ModelKv::pump() {
  while (!in_flight_ && !queue_.empty()) {
    Write& w = queue_.front();
    if (mode_ == Mode::kMemory || mode_ == Mode::kStaleReads || !cas_holds(w)) {
      bool applied = apply(w);
      reply(w.id, 200, applied ? "true" : "false");
      queue_.pop_front();
      continue;
    }
    node::WriteBatch batch;
    batch.ops.push_back(node::WriteOp{node::WriteOp::Kind::kAppend, std::string(kLogFile),
                                      encode_record(w.op, w.key, w.value), 0});
    if (mode_ == Mode::kAckBeforeSync) {
      batch.sync = false;
      apply(w);
      reply(w.id, 200, "true");
      queue_.pop_front();
      env_->storage.write(std::move(batch), next_ticket_);
      next_ticket_ = next_ticket_.next();
      continue;
    }
    in_flight_ = true;
    env_->storage.write(std::move(batch), next_ticket_);
    next_ticket_ = next_ticket_.next();
  }
}

void ModelKv::on_written(Ticket, Result<void> result) {
  PRAETOR_ASSERT(result.has_value());
  if (truncating_) {
    truncating_ = false;
    in_flight_ = false;
    pump();
    return;
  }
  if (mode_ == Mode::kAckBeforeSync) return;
  PRAETOR_ASSERT(in_flight_ && !queue_.empty());
  in_flight_ = false;
  Write w = std::move(queue_.front());
  queue_.pop_front();
  apply(w);
  reply(w.id, 200, "true");
  pump();
}

void ModelKv::stop(node::StopReason) { env_->control.shutdown(0); }

}  // namespace praetor::sim
