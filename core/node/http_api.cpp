// The HTTP API's handlers, one per row of the route table (http_routes.cpp), for the foundation
// slice: KV, status, agent self and members, catalog datacenters, raft operator. By the time a
// handler runs, the method, the strings, the consistency rules and where it runs are settled.
// Handlers turn a request into an immediate read, a parked blocking read, or a command handed to
// commit(); none of them touches I/O.
#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "core/base/duration.hpp"
#include "core/base/limits.hpp"
#include "core/node/agent.hpp"
#include "core/node/http_json.hpp"
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

}  // namespace

json kv_entry_json(const catalog::KvEntry& e) {
  json j = {{"LockIndex", e.lock_index}, {"Key", e.key}, {"Flags", e.flags}};
  j["Value"] = e.value.empty() ? json(nullptr) : json(base64_encode(e.value));
  if (!e.session.empty()) j["Session"] = e.session;
  j["CreateIndex"] = e.create_index;
  j["ModifyIndex"] = e.modify_index;
  return j;
}

namespace {}  // namespace

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
  // GET or HEAD: the route table lets no other method through. A list (?recurse, ?keys) waits on
  // the KV table's index (it moves on deletes too, thanks to tombstones). A single key's read
  // watches that key, as Consul's KVS.Get does: its index is the entry's ModifyIndex while the key
  // exists, so writes to other keys neither wake it nor move the X-Consul-Index it answers with
  // (Patroni watches its leader key with ?index=<ModifyIndex> and spins if they do), and the
  // table's index while it does not, which moves when the key is deleted or created.
  Watch watch = [](const catalog::Fsm& fsm) { return fsm.kv().index(); };
  if (!request.has_query("recurse") && !request.has_query("keys")) {
    watch = [key](const catalog::Fsm& fsm) {
      const catalog::KvEntry* e = fsm.kv().get(key);
      return e != nullptr ? e->modify_index : fsm.kv().index();
    };
  }
  serve_read(id, request, watch, [this, &request, &key] { return read_kv(request, key); });
}

HttpResponse Agent::read_kv(const HttpRequest& request, const std::string& key) const {
  const auto& kv = fsm_.kv();
  HttpResponse response;
  if (request.has_query("keys")) {
    std::string separator = request.query_value("separator").value_or(
        request.query_value("seperator").value_or(""));
    auto keys = kv.keys(key, separator);
    if (keys.empty() && !key.empty()) {
      response = HttpResponse::text(404, "");
      response.body.clear();
    } else {
      response = HttpResponse::json(200, json_text(json(keys)));
    }
  } else if (request.has_query("recurse")) {
    auto entries = kv.list(key);
    if (entries.empty()) {
      response = HttpResponse::text(404, "");
    } else {
      json arr = json::array();
      for (const auto* e : entries) arr.push_back(kv_entry_json(*e));
      response = HttpResponse::json(200, json_text(arr));
    }
  } else {
    const catalog::KvEntry* e = kv.get(key);
    if (e == nullptr) {
      response = HttpResponse::text(404, "");
    } else if (request.has_query("raw")) {
      response = HttpResponse::text(200, to_string(e->value));
    } else {
      response = HttpResponse::json(200, json_text(json::array({kv_entry_json(*e)})));
    }
  }
  return response;
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
    handle_kv_lock(id, request, key, acquire, flags);  // http_session.cpp
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

void Agent::status_leader(RequestId id, HttpRequest&) {
  respond(id, HttpResponse::json(200, json_text(json(leader_address().value_or("")))));
}

void Agent::status_peers(RequestId id, HttpRequest&) {
  json peers = json::array();
  if (raft_) {
    for (NodeId voter : raft_->status().membership.voters) {
      if (auto address = address_of(voter)) peers.push_back(*address);
    }
  }
  respond(id, HttpResponse::json(200, json_text(peers)));
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

void Agent::agent_self(RequestId id, HttpRequest&) {
  respond(id, HttpResponse::json(200, agent_self_json()));
}

void Agent::agent_members(RequestId id, HttpRequest& request) {
  const bool wan = request.has_query("wan") && request.query_value("wan") != "0";
  respond(id, HttpResponse::json(200, members_json(wan)));
}

void Agent::agent_reload(RequestId id, HttpRequest&) {
  // Held until the host reports the outcome (reload() or reload_failed()); one host reload
  // answers every request that arrived while it was pending.
  reload_waiters_.push_back(id);
  if (reload_waiters_.size() == 1) env_->control.request_reload();
}

void Agent::agent_leave(RequestId id, HttpRequest&) {
  respond(id, HttpResponse::text(200, ""));
  env_->logger.info("agent", "Graceful leave requested");
  stop(StopReason::kLeave);
}

void Agent::raft_configuration(RequestId id, HttpRequest&) {
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
  // Consul reports the index of the entry that set this configuration, not the log's head; a
  // configuration that came with a snapshot is dated by the snapshot. A bootstrap configuration
  // is no entry of ours (index 0) but Consul's is entry 1, so clients expect 1 there.
  LogIndex config_index = raft_->log().membership_index();
  if (config_index.value() == 0) config_index = raft_->log().snapshot().index;
  const std::uint64_t reported = std::max<std::uint64_t>(config_index.value(), 1);
  respond(id, HttpResponse::json(200, json_text(json{{"Servers", servers}, {"Index", reported}})));
}

void Agent::raft_remove_peer(RequestId id, HttpRequest& request) {
  if (!raft_) {
    respond(id, HttpResponse::text(500, "No cluster leader"));
    return;
  }
  const auto by_id = request.query_value("id");
  const auto by_address = request.query_value("address");
  std::optional<NodeId> target;
  for (NodeId member : raft_->status().membership.all()) {
    auto it = servers_.find(member);
    const std::string uuid = member == raft_id_     ? node_id_
                             : it != servers_.end() ? it->second.node_id
                                                    : "";
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
  auto index = raft_->propose_membership(
      env_->clock.now(), raft::MembershipChange{raft::MembershipChange::Kind::kRemove, *target});
  if (!index) {
    respond(id, HttpResponse::text(500, index.error().message));
    return;
  }
  pending_.emplace(*index, Pending{id, raft_->term(), {}});
  drive_raft();
}

// Network coordinates (Vivaldi) are not computed yet: every datacenter is listed with no
// coordinates, and no node has one, which is what Consul shows before its first updates.
void Agent::coordinate_datacenters(RequestId id, HttpRequest&) {
  json out = json::array();
  for (const std::string& dc : known_datacenters()) {
    out.push_back({{"Datacenter", dc}, {"AreaID", "wan"}, {"Coordinates", json::array()}});
  }
  respond(id, HttpResponse::json(200, json_text(out)));
}

void Agent::coordinate_nodes(RequestId id, HttpRequest& request) {
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().nodes_index(); },
      [] { return HttpResponse::json(200, "[]"); });
}

void Agent::coordinate_node(RequestId id, HttpRequest& request) {
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().nodes_index(); },
      [] {
        HttpResponse r = HttpResponse::text(404, "");
        r.body.clear();
        return r;
      });
}

void Agent::catalog_datacenters(RequestId id, HttpRequest&) {
  respond(id, HttpResponse::json(200, json_text(json(known_datacenters()))));
}

}  // namespace praetor::node
