// The HTTP API: routing and the handlers of the foundation slice (KV, status, agent self and
// members, catalog datacenters). Handlers turn requests into either an immediate read, a parked
// blocking read, or a command handed to commit(); none of them touches I/O.
#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "core/base/duration.hpp"
#include "core/base/limits.hpp"
#include "core/base/utf8.hpp"
#include "core/node/agent.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {
namespace {

using nlohmann::json;

constexpr std::string_view kKvPrefix = "/v1/kv/";

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

HttpResponse bad_request(std::string message) { return HttpResponse::text(400, std::move(message)); }

HttpResponse method_not_allowed(const HttpRequest& request) {
  return HttpResponse::text(405, fmt::format("method {} not allowed", request.method));
}

json kv_entry_json(const catalog::KvEntry& e) {
  json j = {{"LockIndex", e.lock_index}, {"Key", e.key}, {"Flags", e.flags}};
  j["Value"] = e.value.empty() ? json(nullptr) : json(base64_encode(e.value));
  if (!e.session.empty()) j["Session"] = e.session;
  j["CreateIndex"] = e.create_index;
  j["ModifyIndex"] = e.modify_index;
  return j;
}

// Blocking-query parameters (consul-compat §3.1).
struct BlockingParams {
  std::uint64_t index = 0;
  Duration wait = Duration::milliseconds(limits::kBlockingWaitDefaultMs);
};

Result<BlockingParams> parse_blocking(const HttpRequest& request) {
  BlockingParams p;
  if (auto index = request.query_value("index"); index && !index->empty()) {
    if (!parse_u64(*index, p.index)) return make_error(ErrorCode::kInvalidArgument, "Invalid index");
  }
  if (auto wait = request.query_value("wait"); wait && !wait->empty()) {
    auto d = parse_go_duration(*wait);
    if (!d || d->count_ns() < 0) {
      return make_error(ErrorCode::kInvalidArgument, "Invalid wait time");
    }
    p.wait = std::min(*d, Duration::milliseconds(limits::kBlockingWaitMaxMs));
  }
  return p;
}

}  // namespace

// Where a request enters the API (from a client, a follower, a parked or a confirmed read):
// the last line of defence. Handlers return errors as values, but nlohmann and the standard
// library can still throw; one request must never stop the agent, so an exception is answered
// with a 500 and logged, and the agent carries on (nothing a handler does before it throws
// leaves shared state half-changed: handlers decide, then commit or respond).
void Agent::route(RequestId id, HttpRequest request) {
  const std::string method = request.method;
  const std::string path = request.path;
  try {
    dispatch(id, std::move(request));
  } catch (const std::exception& e) {
    env_->logger.error("http", "request {} {} failed: {}", method, path, e.what());
    respond(id, HttpResponse::text(500, fmt::format("Internal error: {}", e.what())));
  }
}

// The API speaks JSON, so every string a request hands to it must be valid UTF-8 (decision
// D16): the decoded path (a KV key, later service and check ids) and every query parameter
// (separator, prefix, session, ...). Anything else is refused before a handler sees it.
namespace {
std::optional<std::string> invalid_utf8_in(const HttpRequest& request) {
  if (auto at = first_invalid_utf8(request.path); at != request.path.size()) {
    return fmt::format("Request path is not valid UTF-8 (invalid byte at offset {})", at);
  }
  for (const auto& [name, value] : request.query) {
    if (!is_valid_utf8(name)) return std::string("Query parameter name is not valid UTF-8");
    if (!is_valid_utf8(value)) {
      return fmt::format("Query parameter \"{}\" is not valid UTF-8", name);
    }
  }
  return std::nullopt;
}
}  // namespace

void Agent::dispatch(RequestId id, HttpRequest request) {
  const std::string& path = request.path;
  if (auto why = invalid_utf8_in(request)) {
    respond(id, bad_request(std::move(*why)));
    return;
  }
  // Cross-cutting query rules (consul-compat §0 and §3.1).
  if (request.has_query("stale") && request.has_query("consistent")) {
    respond(id, bad_request("Cannot specify ?stale with ?consistent, conflicting semantics."));
    return;
  }
  if (auto dc = request.query_value("dc"); dc && !dc->empty() && *dc != config_.datacenter) {
    respond(id, HttpResponse::text(500, "No path to datacenter"));
    return;
  }
  if (needs_server(request)) {
    forward_to_server(id, std::move(request));
    return;
  }
  if (needs_leader(request) && !is_leader()) {
    forward_to_leader(id, std::move(request));
    return;
  }
  if (config_.server && (request.method == "GET" || request.method == "HEAD") &&
      !request.has_query("stale") && !serving_read_ && !replaying_ &&
      (path.starts_with(kKvPrefix) || path == "/v1/kv")) {
    // Default and ?consistent reads are linearizable: the leader confirms through a heartbeat
    // round that it still leads (Raft's ReadIndex) and reads once it has applied that far. A
    // deposed leader that has not noticed yet can therefore never answer from old state
    // (decision D9). ?stale reads skip this and read local state on any server.
    start_consistent_read(id, std::move(request));
    return;
  }
  if (path.starts_with(kKvPrefix) || path == "/v1/kv") {
    handle_kv(id, request);
  } else if (path.starts_with("/v1/status/")) {
    handle_status(id, request);
  } else if (path.starts_with("/v1/agent/")) {
    handle_agent(id, request);
  } else if (path.starts_with("/v1/catalog/")) {
    handle_catalog(id, request);
  } else if (path.starts_with("/v1/operator/")) {
    handle_operator(id, request);
  } else {
    respond(id, HttpResponse::text(404, fmt::format("Not found: {}", path)));
  }
}

// ---------------------------------------------------------------------------------------------
// KV

void Agent::handle_kv(RequestId id, HttpRequest& request) {
  const std::string key =
      request.path.size() > kKvPrefix.size() ? request.path.substr(kKvPrefix.size()) : "";
  if (key.size() > limits::kKvMaxKeyBytes) {
    respond(id, bad_request(fmt::format("Key too long (max {} bytes)", limits::kKvMaxKeyBytes)));
    return;
  }
  if (request.method == "PUT" || request.method == "POST") {
    handle_kv_write(id, request, key);
    return;
  }
  if (request.method == "DELETE") {
    handle_kv_delete(id, request, key);
    return;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    respond(id, method_not_allowed(request));
    return;
  }
  auto blocking = parse_blocking(request);
  if (!blocking) {
    respond(id, bad_request(blocking.error().message));
    return;
  }
  if (!config_.server) {
    respond(id, HttpResponse::text(500, "No known Consul servers"));
    return;
  }
  ReadOutcome outcome = read_kv(request, key);
  if (!replaying_ && blocking->index > 0 && outcome.index <= blocking->index && !stopping_) {
    if (parked_.size() >= limits::kHttpMaxPendingRequests) {
      respond(id, HttpResponse::text(429, "Too many blocking queries"));
      return;
    }
    // Consul adds up to wait/16 of jitter so that many watchers do not return in lockstep.
    const Duration jitter =
        Duration::nanoseconds(static_cast<std::int64_t>(rng_.uniform(
            static_cast<std::uint64_t>(blocking->wait.count_ns() / 16) + 1)));
    parked_.emplace(id, Parked{std::move(request), blocking->index,
                               env_->clock.now() + blocking->wait + jitter});
    arm_timer();
    return;
  }
  respond(id, std::move(outcome.response));
}

Agent::ReadOutcome Agent::read_kv(const HttpRequest& request, const std::string& key) const {
  const auto& kv = fsm_.kv();
  ReadOutcome out;
  out.index = kv.index();
  if (request.has_query("keys")) {
    std::string separator = request.query_value("separator").value_or(
        request.query_value("seperator").value_or(""));
    auto keys = kv.keys(key, separator);
    if (keys.empty() && !key.empty()) {
      out.response = HttpResponse::text(404, "");
      out.response.body.clear();
    } else {
      out.response = HttpResponse::json(200, json_text(json(keys)));
    }
  } else if (request.has_query("recurse")) {
    auto entries = kv.list(key);
    if (entries.empty()) {
      out.response = HttpResponse::text(404, "");
    } else {
      json arr = json::array();
      for (const auto* e : entries) arr.push_back(kv_entry_json(*e));
      out.response = HttpResponse::json(200, json_text(arr));
    }
  } else {
    const catalog::KvEntry* e = kv.get(key);
    if (e == nullptr) {
      out.response = HttpResponse::text(404, "");
    } else if (request.has_query("raw")) {
      out.response = HttpResponse::text(200, to_string(e->value));
    } else {
      out.response = HttpResponse::json(200, json_text(json::array({kv_entry_json(*e)})));
    }
  }
  decorate(out.response, out.index);
  out.response.set_header("X-Consul-Effective-Consistency",
                          request.has_query("stale") ? "stale" : "leader");
  if (request.method == "HEAD") out.response.body.clear();
  return out;
}

void Agent::handle_kv_write(RequestId id, const HttpRequest& request, const std::string& key) {
  if (key.empty()) {
    respond(id, bad_request("Missing key name"));
    return;
  }
  const bool cas = request.has_query("cas");
  const bool acquire = request.has_query("acquire");
  const bool release = request.has_query("release");
  if (int(cas) + int(acquire) + int(release) > 1) {
    respond(id, bad_request("Conflicting flags: cas, acquire and release are exclusive"));
    return;
  }
  std::uint64_t flags = 0;
  if (auto f = request.query_value("flags"); f && !f->empty() && !parse_u64(*f, flags)) {
    respond(id, bad_request("Invalid flags"));
    return;
  }
  if (request.body.size() > limits::kKvMaxValueBytes) {
    respond(id, HttpResponse::text(
                    413, fmt::format("Request body({} bytes) too large, max size: {} bytes.",
                                     request.body.size(), limits::kKvMaxValueBytes)));
    return;
  }
  if (acquire || release) {
    // No session can exist until the sessions API lands, so every session id is unknown; this is
    // Consul's answer for an unknown session (Patroni matches on it).
    const std::string session = request.query_value(acquire ? "acquire" : "release").value_or("");
    if (session.empty()) {
      respond(id, bad_request("Missing session"));
      return;
    }
    respond(id, HttpResponse::text(500, fmt::format("invalid session \"{}\"", session)));
    return;
  }
  Bytes value = to_bytes(request.body);
  if (cas) {
    std::uint64_t index = 0;
    if (!parse_u64(request.query_value("cas").value_or(""), index)) {
      respond(id, bad_request("Invalid cas index"));
      return;
    }
    commit(id, catalog::KvCas{key, std::move(value), flags, index});
    return;
  }
  commit(id, catalog::KvSet{key, std::move(value), flags});
}

void Agent::handle_kv_delete(RequestId id, const HttpRequest& request, const std::string& key) {
  if (request.has_query("recurse")) {
    commit(id, catalog::KvDeleteTree{key});
    return;
  }
  if (key.empty()) {
    respond(id, bad_request("Missing key name"));
    return;
  }
  if (request.has_query("cas")) {
    std::uint64_t index = 0;
    if (!parse_u64(request.query_value("cas").value_or(""), index)) {
      respond(id, bad_request("Invalid cas index"));
      return;
    }
    commit(id, catalog::KvDeleteCas{key, index});
    return;
  }
  commit(id, catalog::KvDelete{key});
}

// ---------------------------------------------------------------------------------------------
// Status, agent, catalog

void Agent::handle_status(RequestId id, const HttpRequest& request) {
  if (request.method != "GET") {
    respond(id, method_not_allowed(request));
    return;
  }
  HttpResponse response;
  if (request.path == "/v1/status/leader") {
    response = HttpResponse::json(200, json_text(json(leader_address().value_or(""))));
  } else if (request.path == "/v1/status/peers") {
    json peers = json::array();
    if (raft_) {
      for (NodeId voter : raft_->status().membership.voters) {
        if (auto address = address_of(voter)) peers.push_back(*address);
      }
    }
    response = HttpResponse::json(200, json_text(peers));
  } else {
    respond(id, HttpResponse::text(404, fmt::format("Not found: {}", request.path)));
    return;
  }
  decorate(response, fsm_.applied_index().value());
  respond(id, std::move(response));
}


std::string Agent::agent_self_json() const {
  const std::string leader = leader_address().value_or("");
  const std::string applied = std::to_string(fsm_.applied_index().value());
  json self;
  self["Config"] = {{"Datacenter", config_.datacenter},
                    {"PrimaryDatacenter", config_.primary_datacenter.empty()
                                              ? config_.datacenter
                                              : config_.primary_datacenter},
                    {"NodeName", config_.node_name},
                    {"NodeID", node_id_},
                    {"Revision", "praetor"},
                    {"Server", config_.server},
                    {"Version", std::string(kVersion)},
                    {"SessionTTLMin", config_.session_ttl_min.count_ns()}};
  self["DebugConfig"] = {{"BindAddr", config_.bind_addr},
                         {"ClientAddrs", config_.client_addr},
                         {"DataDir", config_.data_dir},
                         {"DevMode", config_.dev},
                         {"Bootstrap", config_.bootstrap},
                         {"BootstrapExpect", config_.bootstrap_expect},
                         {"DNSDomain", config_.domain},
                         {"HTTPPort", config_.ports.http},
                         {"DNSPort", served_dns_port(config_)},
                         {"ServerPort", config_.ports.server},
                         {"EnableScriptChecks", config_.enable_script_checks}};
  self["Coord"] = {{"Vec", json::array({0, 0, 0, 0, 0, 0, 0, 0})},
                   {"Error", 1.5},
                   {"Adjustment", 0},
                   {"Height", 1e-05}};
  self["Member"] = json::parse(member_json());
  self["Stats"] = {
      {"agent", {{"check_monitors", "0"}, {"checks", "0"}, {"services", "0"}}},
      {"build", {{"version", std::string(kVersion)}, {"revision", "praetor"}}},
      {"consul",
       {{"server", config_.server ? "true" : "false"},
        {"leader", is_leader() ? "true" : "false"},
        {"leader_addr", leader},
        {"bootstrap", config_.bootstrap || config_.dev ? "true" : "false"},
        {"known_datacenters", std::to_string(known_datacenters().size())}}},
      {"raft",
       {{"state", raft_ ? std::string(raft::role_name(raft_->role())) : "none"},
        {"term", raft_ ? std::to_string(raft_->term().value()) : "0"},
        {"applied_index", applied},
        {"commit_index", raft_ ? std::to_string(raft_->status().commit.value()) : "0"},
        {"last_log_index", raft_ ? std::to_string(raft_->status().last_index.value()) : "0"},
        {"num_peers", std::to_string(raft_peer_count())}}}};
  // Consul's `consul info` lists "acl = disabled" when ACLs are off; praetor has none yet.
  self["Stats"]["consul"]["acl"] = "disabled";
  if (const auto exposed = unprotected_api_warning(config_); !exposed.empty()) {
    self["Stats"]["agent"]["security_warning"] = exposed;
  }
  self["Meta"] = config_.node_meta;
  return json_text(self);
}

void Agent::handle_agent(RequestId id, const HttpRequest& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET";
  const bool put = request.method == "PUT" || request.method == "POST";
  HttpResponse response;
  if (path == "/v1/agent/self" && get) {
    response = HttpResponse::json(200, agent_self_json());
  } else if (path == "/v1/agent/members" && get) {
    const bool wan = request.has_query("wan") && request.query_value("wan") != "0";
    response = HttpResponse::json(200, members_json(wan));
  } else if (path.starts_with("/v1/agent/join/")) {
    handle_join(id, request);
    return;
  } else if (path.starts_with("/v1/agent/force-leave/")) {
    handle_force_leave(id, request);
    return;
  } else if (path == "/v1/agent/reload" && put) {
    env_->control.request_reload();
    response = HttpResponse::text(200, "");
  } else if (path == "/v1/agent/leave" && put) {
    respond(id, HttpResponse::text(200, ""));
    env_->logger.info("agent", "Graceful leave requested");
    stop(StopReason::kLeave);
    return;
  } else if (path == "/v1/agent/self" || path == "/v1/agent/members" ||
             path == "/v1/agent/reload" || path == "/v1/agent/leave") {
    respond(id, method_not_allowed(request));
    return;
  } else {
    respond(id, HttpResponse::text(404, fmt::format("Not found: {}", path)));
    return;
  }
  decorate(response, fsm_.applied_index().value());
  respond(id, std::move(response));
}

void Agent::handle_operator(RequestId id, const HttpRequest& request) {
  if (request.path == "/v1/operator/raft/configuration" && request.method == "GET") {
    if (!raft_) {
      respond(id, HttpResponse::text(500, "No cluster leader"));
      return;
    }
    const raft::Status status = raft_->status();
    json servers = json::array();
    for (NodeId member : status.membership.all()) {
      std::string name = member == raft_id_ ? config_.node_name : "";
      std::string uuid = member == raft_id_ ? node_id_ : "";
      if (auto it = servers_.find(member); it != servers_.end()) {
        name = it->second.name;
        uuid = it->second.node_id;
      }
      servers.push_back({{"ID", uuid.empty() ? std::to_string(member.value()) : uuid},
                         {"Node", name},
                         {"Address", address_of(member).value_or("")},
                         {"Leader", member == known_leader_},
                         {"Voter", status.membership.is_voter(member)},
                         {"ProtocolVersion", "3"}});
    }
    HttpResponse response = HttpResponse::json(
        200, json_text(json{{"Servers", servers}, {"Index", status.commit.value()}}));
    decorate(response, fsm_.applied_index().value());
    respond(id, std::move(response));
    return;
  }
  if (request.path == "/v1/operator/raft/peer" && request.method == "DELETE") {
    if (!raft_) {
      respond(id, HttpResponse::text(500, "No cluster leader"));
      return;
    }
    const auto by_id = request.query_value("id");
    const auto by_address = request.query_value("address");
    std::optional<NodeId> target;
    for (NodeId member : raft_->status().membership.all()) {
      auto it = servers_.find(member);
      const std::string uuid = member == raft_id_ ? node_id_
                               : it != servers_.end() ? it->second.node_id : "";
      if ((by_id && *by_id == uuid) || (by_address && address_of(member) == *by_address)) {
        target = member;
      }
    }
    if (!by_id && !by_address) {
      respond(id, bad_request("Must specify either ?id with the server's ID or ?address with "
                              "IP:port of peer to remove"));
      return;
    }
    if (!target) {
      respond(id, HttpResponse::text(500, "id or address not found in the Raft configuration"));
      return;
    }
    auto index = raft_->propose_membership(env_->clock.now(),
                                           raft::MembershipChange{raft::MembershipChange::Kind::kRemove, *target});
    if (!index) {
      respond(id, HttpResponse::text(500, index.error().message));
      return;
    }
    pending_.emplace(*index, Pending{id, raft_->term()});
    drive_raft();
    return;
  }
  respond(id, HttpResponse::text(404, fmt::format("Not found: {}", request.path)));
}

void Agent::handle_catalog(RequestId id, const HttpRequest& request) {
  if (request.path == "/v1/catalog/datacenters") {
    if (request.method != "GET") {
      respond(id, method_not_allowed(request));
      return;
    }
    HttpResponse response = HttpResponse::json(200, json_text(json(known_datacenters())));
    decorate(response, fsm_.applied_index().value());
    respond(id, std::move(response));
    return;
  }
  respond(id, HttpResponse::text(404, fmt::format("Not found: {}", request.path)));
}

}  // namespace praetor::node
