// The HTTP API's route table, and the one funnel every request goes through: check the strings,
// find the route (404, 405), apply the rules every endpoint shares (?stale with ?consistent,
// ?dc naming another datacenter: forwarded there), then run the request where its route says —
// here, on any server, or on the leader — and confirm leadership first for linearizable reads.
// Adding an endpoint is one row and a handler.
#include <fmt/format.h>

#include <optional>
#include <span>

#include "core/base/assert.hpp"
#include "core/base/utf8.hpp"
#include "core/dns/message.hpp"
#include "core/node/agent.hpp"

namespace praetor::node {
namespace {

// Methods a route takes: HEAD goes with GET, POST with PUT (Consul's handlers treat them alike).
enum Method : unsigned { kGet = 1, kPut = 2, kDelete = 4 };

unsigned method_bit(std::string_view method) {
  if (method == "GET" || method == "HEAD") return kGet;
  if (method == "PUT" || method == "POST") return kPut;
  if (method == "DELETE") return kDelete;
  return 0;
}

// The API speaks JSON, so every string a request hands to it must be valid UTF-8 (decision
// D16): the decoded path (a KV key, later service and check ids) and every query parameter
// (separator, prefix, session, ...). Anything else is refused before routing.
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

bool is_read(const HttpRequest& request) {
  return request.method == "GET" || request.method == "HEAD";
}

}  // namespace

// Where a route runs. kAgent: on the agent that took the request. kServer: a client agent
// forwards it to a server; a server answers it. kLeader: as kServer, and a server that does not
// lead forwards it to the leader, except reads with ?stale, which any server answers from its own
// state.
enum class Agent::RunsOn { kAgent, kServer, kLeader };

struct Agent::Route {
  std::string_view path;  // exact, or a prefix when it ends in '/' and `prefix` is set
  bool prefix = false;
  unsigned methods = 0;
  RunsOn runs_on = RunsOn::kAgent;
  // Default and ?consistent reads confirm leadership first (Raft's ReadIndex), so a deposed
  // leader that has not noticed yet never answers from old state (decision D9).
  bool read_index = false;
  void (Agent::*handler)(RequestId, HttpRequest&) = nullptr;
  // A kAgent route that still goes to the datacenter `?dc=` names (Consul fires a user event
  // in the datacenter asked for); the other kAgent routes ignore ?dc=, as Consul's do.
  bool follows_dc = false;
};

std::span<const Agent::Route> Agent::routes() {
  using R = RunsOn;
  static const Route kRoutes[] = {
      {"/v1/kv/", true, kGet | kPut | kDelete, R::kLeader, true, &Agent::handle_kv},
      {"/v1/kv", false, kGet | kPut | kDelete, R::kLeader, true, &Agent::handle_kv},
      {"/v1/status/leader", false, kGet, R::kServer, false, &Agent::status_leader},
      {"/v1/status/peers", false, kGet, R::kServer, false, &Agent::status_peers},
      {"/v1/catalog/datacenters", false, kGet, R::kServer, false, &Agent::catalog_datacenters},
      {"/v1/coordinate/datacenters", false, kGet, R::kServer, false,
       &Agent::coordinate_datacenters},
      {"/v1/coordinate/nodes", false, kGet, R::kLeader, true, &Agent::coordinate_nodes},
      {"/v1/coordinate/node/", true, kGet, R::kLeader, true, &Agent::coordinate_node},
      {"/v1/operator/raft/configuration", false, kGet, R::kServer, false,
       &Agent::raft_configuration},
      {"/v1/operator/raft/peer", false, kDelete, R::kLeader, false, &Agent::raft_remove_peer},
      {"/v1/agent/self", false, kGet, R::kAgent, false, &Agent::agent_self},
      {"/v1/agent/members", false, kGet, R::kAgent, false, &Agent::agent_members},
      {"/v1/agent/join/", true, kPut, R::kAgent, false, &Agent::handle_join},
      {"/v1/agent/force-leave/", true, kPut, R::kAgent, false, &Agent::handle_force_leave},
      {"/v1/agent/reload", false, kPut, R::kAgent, false, &Agent::agent_reload},
      {"/v1/agent/leave", false, kPut, R::kAgent, false, &Agent::agent_leave},
      // The agent's own services and checks (http_agent_local.cpp).
      {"/v1/agent/services", false, kGet, R::kAgent, false, &Agent::agent_services},
      {"/v1/agent/service/register", false, kPut, R::kAgent, false, &Agent::agent_service_register},
      {"/v1/agent/service/deregister/", true, kPut, R::kAgent, false,
       &Agent::agent_service_deregister},
      {"/v1/agent/service/maintenance/", true, kPut, R::kAgent, false,
       &Agent::agent_service_maintenance},
      {"/v1/agent/service/", true, kGet, R::kAgent, false, &Agent::agent_service},
      {"/v1/agent/checks", false, kGet, R::kAgent, false, &Agent::agent_checks},
      {"/v1/agent/check/register", false, kPut, R::kAgent, false, &Agent::agent_check_register},
      {"/v1/agent/check/deregister/", true, kPut, R::kAgent, false, &Agent::agent_check_deregister},
      {"/v1/agent/check/pass/", true, kPut, R::kAgent, false, &Agent::agent_check_ttl},
      {"/v1/agent/check/warn/", true, kPut, R::kAgent, false, &Agent::agent_check_ttl},
      {"/v1/agent/check/fail/", true, kPut, R::kAgent, false, &Agent::agent_check_ttl},
      {"/v1/agent/check/update/", true, kPut, R::kAgent, false, &Agent::agent_check_update},
      {"/v1/agent/health/service/name/", true, kGet, R::kAgent, false,
       &Agent::agent_health_service_name},
      {"/v1/agent/health/service/id/", true, kGet, R::kAgent, false,
       &Agent::agent_health_service_id},
      {"/v1/agent/maintenance", false, kPut, R::kAgent, false, &Agent::agent_maintenance},
      {"/v1/event/fire/", true, kPut, R::kAgent, false, &Agent::event_fire, true},
      {"/v1/event/list", false, kGet, R::kAgent, false, &Agent::event_list},
      // The catalog of nodes, services and checks: written on the leader, read like KV.
      {"/v1/catalog/register", false, kPut, R::kLeader, true, &Agent::catalog_register},
      {"/v1/catalog/deregister", false, kPut, R::kLeader, true, &Agent::catalog_deregister},
      {"/v1/catalog/nodes", false, kGet, R::kLeader, true, &Agent::catalog_nodes},
      {"/v1/catalog/services", false, kGet, R::kLeader, true, &Agent::catalog_services},
      {"/v1/catalog/service/", true, kGet, R::kLeader, true, &Agent::catalog_service},
      {"/v1/catalog/node/", true, kGet, R::kLeader, true, &Agent::catalog_node},
      {"/v1/health/node/", true, kGet, R::kLeader, true, &Agent::health_node},
      {"/v1/health/checks/", true, kGet, R::kLeader, true, &Agent::health_checks},
      {"/v1/health/service/", true, kGet, R::kLeader, true, &Agent::health_service},
      {"/v1/health/state/", true, kGet, R::kLeader, true, &Agent::health_state},
      // Sessions and transactions (http_session.cpp, http_txn.cpp). Renew runs on the leader
      // because the TTL timers live there.
      {"/v1/session/create", false, kPut, R::kLeader, false, &Agent::session_create},
      {"/v1/session/destroy/", true, kPut, R::kLeader, false, &Agent::session_destroy},
      {"/v1/session/renew/", true, kPut, R::kLeader, false, &Agent::session_renew},
      {"/v1/session/info/", true, kGet, R::kLeader, true, &Agent::session_info},
      {"/v1/session/node/", true, kGet, R::kLeader, true, &Agent::session_node},
      {"/v1/session/list", false, kGet, R::kLeader, true, &Agent::session_list},
      {"/v1/txn", false, kPut, R::kLeader, false, &Agent::handle_txn},
      // Snapshots (http_snapshot.cpp): saved after a ReadIndex round, restored through the log.
      {"/v1/snapshot", false, kGet, R::kLeader, true, &Agent::snapshot_save},
      {"/v1/snapshot", false, kPut, R::kLeader, false, &Agent::snapshot_restore},
  };
  // Checked once: every row can be reached. A row is dead if an earlier one takes the same
  // path and one of its methods (the first match wins), and every row needs a handler.
  static const bool kChecked = [] {
    for (std::size_t i = 0; i < std::size(kRoutes); ++i) {
      const Route& r = kRoutes[i];
      PRAETOR_ASSERT_MSG(r.handler != nullptr && r.methods != 0, "route {} is empty", r.path);
      PRAETOR_ASSERT_MSG(!r.prefix || r.path.ends_with('/'), "prefix route {} must end in /",
                         r.path);
      for (std::size_t j = 0; j < i; ++j) {
        const Route& earlier = kRoutes[j];
        const bool covers = earlier.prefix ? r.path.starts_with(earlier.path)
                                           : !r.prefix && r.path == earlier.path;
        PRAETOR_ASSERT_MSG(!covers || (earlier.methods & r.methods) == 0,
                           "route {} is shadowed by {}", r.path, earlier.path);
      }
    }
    return true;
  }();
  static_cast<void>(kChecked);
  return kRoutes;
}

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

void Agent::dispatch(RequestId id, HttpRequest request) {
  if (auto why = invalid_utf8_in(request)) {
    respond(id, HttpResponse::text(400, std::move(*why)));
    return;
  }
  const Route* route = nullptr;
  bool path_known = false;
  for (const Route& r : routes()) {
    const bool matches = r.prefix ? request.path.starts_with(r.path) : request.path == r.path;
    if (!matches) continue;
    path_known = true;
    if ((r.methods & method_bit(request.method)) != 0) {
      route = &r;
      break;
    }
  }
  if (route == nullptr) {
    respond(id, path_known ? HttpResponse::text(405, fmt::format("method {} not allowed",
                                                                 request.method))
                           : HttpResponse::text(404, fmt::format("Not found: {}", request.path)));
    return;
  }
  // Rules every endpoint shares (consul-compat §0 and §3.1).
  if (request.has_query("stale") && request.has_query("consistent")) {
    respond(id, HttpResponse::text(
                    400, "Cannot specify ?stale with ?consistent, conflicting semantics."));
    return;
  }
  const bool stale_read = is_read(request) && request.has_query("stale");
  if (auto dc = request.query_value("dc");
      dc && !dc->empty() && !dns::iequals(*dc, config_.datacenter) &&
      (route->runs_on != RunsOn::kAgent || route->follows_dc)) {
    // Another datacenter's: a client agent hands it to a server of its own, which forwards it
    // over the WAN to a server there (issue 14).
    if (config_.server) {
      forward_to_datacenter(id, *dc, std::move(request));
    } else {
      forward_to_server(id, std::move(request));
    }
    return;
  }
  if (route->runs_on != RunsOn::kAgent && !config_.server) {
    forward_to_server(id, std::move(request));
    return;
  }
  if (route->runs_on == RunsOn::kLeader && !stale_read && !is_leader()) {
    forward_to_leader(id, std::move(request));
    return;
  }
  // A parked read being answered, or a read whose ReadIndex is confirmed, runs its handler now.
  if (route->read_index && is_read(request) && !stale_read && !serving_read_ && !replaying_) {
    start_consistent_read(id, std::move(request));
    return;
  }
  (this->*route->handler)(id, request);
}

}  // namespace praetor::node
