// The agent's own services and checks over HTTP (consul-compat §3.2): /v1/agent/services,
// /service/<id>, /service/register, /service/deregister/<id>, /checks, /check/register,
// /check/deregister/<id>, /check/{pass,warn,fail}/<id>, /check/update/<id>,
// /health/service/{name,id}/<x>, /maintenance and /service/maintenance/<id>.
//
// These run on the agent that takes them (they change its LocalState, which anti-entropy then
// carries to the catalog). Registration bodies are Consul's API definitions; they are read by the
// configuration reader, whose key rule (case-insensitive, underscores ignored) makes "ServiceID"
// and "service_id" one key, so a definition means the same in a file and in a request, and a bad
// field gets the same message naming it.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/node/agent.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {
namespace {

using nlohmann::json;

HttpResponse bad_request(std::string message) {
  return HttpResponse::text(400, std::move(message));
}

HttpResponse error_response(const Error& e) {
  return HttpResponse::text(e.code == ErrorCode::kNotFound ? 404 : 400, e.message);
}

// Consul's split: a definition that does not validate is a 400 ("Invalid check: ..."); one this
// agent will not take (scripts disabled, a check naming a service it does not have) fails in
// the agent's AddCheck/AddService and is a 500 with the bare message.
HttpResponse registration_error(const Error& e, std::string_view what) {
  if (e.code == ErrorCode::kNotFound || e.code == ErrorCode::kUnavailable) {
    return HttpResponse::text(500, e.message);
  }
  return HttpResponse::text(400, fmt::format("{}: {}", what, e.message));
}

std::string path_rest(const HttpRequest& request, std::string_view prefix) {
  return request.path.size() > prefix.size() ? request.path.substr(prefix.size()) : "";
}

std::string status_text(catalog::HealthStatus s) {
  return std::string(catalog::health_status_name(s));
}

json string_map(const std::map<std::string, std::string>& m) {
  return m.empty() ? json::object() : json(m);
}

// A request body as one entry of a configuration file: {"service": body} or {"check": body}.
// Script checks are let through the reader here; LocalState applies the agent's real policy
// with Consul's text for remote registrations.
Result<AgentConfig> read_definition(const std::string& body, const char* key) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "Request decode failed: the body is not a JSON object");
  }
  json wrapper = {{"node_name", "request"}, {"enable_script_checks", true}, {key, std::move(doc)}};
  LoadOptions options;
  options.require_data_dir = false;
  auto config = load_config({ConfigSource{"request body", wrapper.dump()}}, options);
  if (!config) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Request decode failed: {}", config.error().message));
  }
  return config;
}

}  // namespace

void Agent::local_changed() {
  const Instant now = env_->clock.now();
  // A new check may be due at once (its first run is staggered from now).
  for (CheckRun& run : local_.take_due_runs(now)) env_->exec.run(run.id, std::move(run.spec));
  sync_local(now);
  persist_local();
  arm_timer();
}

namespace {

json agent_service_json(const LocalState& local, const LocalService& s,
                        const std::string& datacenter) {
  const catalog::ServiceDef d = local.service_def(s);
  return json{{"ID", d.id},
              {"Service", d.name},
              {"Tags", d.tags},
              {"Meta", string_map(d.meta)},
              {"Port", d.port},
              {"Address", d.address},
              {"Weights", {{"Passing", d.weight_passing}, {"Warning", d.weight_warning}}},
              {"EnableTagOverride", d.enable_tag_override},
              {"Datacenter", datacenter}};
}

json agent_check_json(const LocalState& local, const LocalCheck& c) {
  const catalog::CheckDef d = local.check_def(c);
  std::string service_name;
  json tags = json::array();
  if (const LocalService* s = local.service(d.service_id)) {
    service_name = s->def.name;
    tags = s->def.tags;
  }
  return json{{"Node", d.node},
              {"CheckID", d.check_id},
              {"Name", d.name},
              {"Status", status_text(d.status)},
              {"Notes", d.notes},
              {"Output", d.output},
              {"ServiceID", d.service_id},
              {"ServiceName", service_name},
              {"ServiceTags", tags},
              {"Type", d.type},
              {"Interval", d.interval},
              {"Timeout", d.timeout},
              {"ExposedPort", 0},
              {"Definition", json::object()},
              {"CreateIndex", 0},
              {"ModifyIndex", 0}};
}

// Consul's agent health endpoints answer with the aggregated status as the HTTP status too, so
// a load balancer can poll them: 200 passing, 429 warning, 503 critical.
int health_code(catalog::HealthStatus s) {
  switch (s) {
    case catalog::HealthStatus::kPassing: return 200;
    case catalog::HealthStatus::kWarning: return 429;
    case catalog::HealthStatus::kCritical: return 503;
  }
  return 503;
}

}  // namespace

void Agent::agent_services(RequestId id, HttpRequest&) {
  json out = json::object();
  for (const auto& [sid, s] : local_.services()) {
    out[sid] = agent_service_json(local_, s, config_.datacenter);
  }
  respond(id, HttpResponse::json(200, json_text(out)));
}

void Agent::agent_service(RequestId id, HttpRequest& request) {
  const std::string sid = path_rest(request, "/v1/agent/service/");
  const LocalService* s = local_.service(sid);
  if (s == nullptr) {
    respond(id, HttpResponse::text(404, fmt::format("unknown service ID: {}", sid)));
    return;
  }
  respond(id, HttpResponse::json(200, json_text(agent_service_json(local_, *s,
                                                                   config_.datacenter))));
}

void Agent::agent_checks(RequestId id, HttpRequest&) {
  json out = json::object();
  for (const auto& [cid, c] : local_.checks()) out[cid] = agent_check_json(local_, c);
  respond(id, HttpResponse::json(200, json_text(out)));
}

void Agent::agent_service_register(RequestId id, HttpRequest& request) {
  auto config = read_definition(request.body, "service");
  if (!config) {
    respond(id, bad_request(config.error().message));
    return;
  }
  if (config->services.size() != 1) {
    respond(id, bad_request("Request decode failed: expected one service definition"));
    return;
  }
  // Without ?replace-existing-checks, checks of the service that the request does not name stay
  // (Consul's rule); with it, they go.
  const bool replace = request.has_query("replace-existing-checks");
  auto ok = local_.add_service(std::move(config->services.front()), DefinitionSource::kApi,
                               env_->clock.now(), local_rng_, replace);
  if (!ok) {
    respond(id, registration_error(ok.error(), "Invalid service"));
    return;
  }
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

void Agent::agent_service_deregister(RequestId id, HttpRequest& request) {
  const std::string sid = path_rest(request, "/v1/agent/service/deregister/");
  if (!local_.remove_service(sid)) {
    respond(id, HttpResponse::text(
                    404, fmt::format("Unknown service ID \"{}\". Ensure that the service ID is "
                                     "passed, not the service name.",
                                     sid)));
    return;
  }
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

void Agent::agent_check_register(RequestId id, HttpRequest& request) {
  auto config = read_definition(request.body, "check");
  if (!config) {
    respond(id, bad_request(config.error().message));
    return;
  }
  if (config->checks.size() != 1) {
    respond(id, bad_request("Request decode failed: expected one check definition"));
    return;
  }
  auto ok = local_.add_check(std::move(config->checks.front()), DefinitionSource::kApi,
                             env_->clock.now(), local_rng_);
  if (!ok) {
    respond(id, registration_error(ok.error(), "Invalid check"));
    return;
  }
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

void Agent::agent_check_deregister(RequestId id, HttpRequest& request) {
  const std::string cid = path_rest(request, "/v1/agent/check/deregister/");
  if (!local_.remove_check(cid)) {
    respond(id, HttpResponse::text(
                    404, fmt::format("Unknown check ID \"{}\". Ensure that the check ID is "
                                     "passed, not the check name.",
                                     cid)));
    return;
  }
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

void Agent::agent_check_ttl(RequestId id, HttpRequest& request) {
  // /v1/agent/check/<pass|warn|fail>/<id>
  const std::string rest = path_rest(request, "/v1/agent/check/");
  const auto slash = rest.find('/');
  const std::string verb = rest.substr(0, slash);
  const std::string cid = slash == std::string::npos ? "" : rest.substr(slash + 1);
  const catalog::HealthStatus status = verb == "pass"   ? catalog::HealthStatus::kPassing
                                       : verb == "warn" ? catalog::HealthStatus::kWarning
                                                        : catalog::HealthStatus::kCritical;
  auto ok = local_.update_ttl(cid, status, request.query_value("note").value_or(""),
                              env_->clock.now());
  if (!ok) {
    respond(id, error_response(ok.error()));
    return;
  }
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

void Agent::agent_check_update(RequestId id, HttpRequest& request) {
  const std::string cid = path_rest(request, "/v1/agent/check/update/");
  json doc = json::parse(request.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    respond(id, bad_request("Request decode failed: the body is not a JSON object"));
    return;
  }
  std::string status;
  std::string output;
  for (const auto& [key, value] : doc.items()) {
    std::string k;
    for (char c : key) {
      if (c != '_') k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (k != "status" && k != "output") continue;
    if (!value.is_string() && !value.is_null()) {
      respond(id, bad_request(fmt::format("Request decode failed: {} must be a string", key)));
      return;
    }
    (k == "status" ? status : output) = value.is_string() ? value.get<std::string>() : "";
  }
  std::optional<catalog::HealthStatus> s;
  if (status == "passing") s = catalog::HealthStatus::kPassing;
  if (status == "warning") s = catalog::HealthStatus::kWarning;
  if (status == "critical") s = catalog::HealthStatus::kCritical;
  if (!s) {
    respond(id, bad_request(fmt::format("Invalid check status: \"{}\"", status)));
    return;
  }
  auto ok = local_.update_ttl(cid, *s, std::move(output), env_->clock.now());
  if (!ok) {
    respond(id, error_response(ok.error()));
    return;
  }
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

namespace {

json health_entry(const LocalState& local, const LocalService& s, const std::string& dc) {
  json checks = json::array();
  for (const auto& [cid, c] : local.checks()) {
    if (c.def.service_id.empty() || c.def.service_id == s.def.id) {
      checks.push_back(agent_check_json(local, c));
    }
  }
  return json{{"AggregatedStatus", status_text(local.aggregate_status(s.def.id))},
              {"Service", agent_service_json(local, s, dc)},
              {"Checks", std::move(checks)}};
}

bool text_format(const HttpRequest& request) {
  return request.query_value("format").value_or("") == "text";
}

}  // namespace

void Agent::agent_health_service_name(RequestId id, HttpRequest& request) {
  const std::string name = path_rest(request, "/v1/agent/health/service/name/");
  json out = json::array();
  catalog::HealthStatus worst = catalog::HealthStatus::kPassing;
  for (const auto& [sid, s] : local_.services()) {
    if (s.def.name != name) continue;
    const catalog::HealthStatus st = local_.aggregate_status(sid);
    if (static_cast<int>(st) > static_cast<int>(worst)) worst = st;
    out.push_back(health_entry(local_, s, config_.datacenter));
  }
  if (out.empty()) {
    respond(id, text_format(request)
                    ? HttpResponse::text(404, fmt::format("ServiceName {} Not Found", name))
                    : HttpResponse::json(404, "[]"));
    return;
  }
  const int code = health_code(worst);
  respond(id, text_format(request) ? HttpResponse::text(code, status_text(worst))
                                   : HttpResponse::json(code, json_text(out)));
}

void Agent::agent_health_service_id(RequestId id, HttpRequest& request) {
  const std::string sid = path_rest(request, "/v1/agent/health/service/id/");
  const LocalService* s = local_.service(sid);
  if (s == nullptr) {
    respond(id, HttpResponse::text(404, fmt::format("ServiceId {} not found", sid)));
    return;
  }
  const catalog::HealthStatus st = local_.aggregate_status(sid);
  respond(id, text_format(request)
                  ? HttpResponse::text(health_code(st), status_text(st))
                  : HttpResponse::json(health_code(st),
                                       json_text(health_entry(local_, *s, config_.datacenter))));
}

namespace {

// ?enable=true|false, required.
Result<bool> enable_param(const HttpRequest& request) {
  auto v = request.query_value("enable");
  if (!v || v->empty()) return make_error(ErrorCode::kInvalidArgument, "Missing value for enable");
  if (*v == "true") return true;
  if (*v == "false") return false;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("Invalid value for enable: \"{}\"", *v));
}

}  // namespace

void Agent::agent_maintenance(RequestId id, HttpRequest& request) {
  auto enable = enable_param(request);
  if (!enable) {
    respond(id, bad_request(enable.error().message));
    return;
  }
  local_.set_node_maintenance(*enable, request.query_value("reason").value_or(""),
                              env_->clock.now());
  env_->logger.info("agent", "Node {} maintenance mode", *enable ? "entered" : "left");
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

void Agent::agent_service_maintenance(RequestId id, HttpRequest& request) {
  const std::string sid = path_rest(request, "/v1/agent/service/maintenance/");
  auto enable = enable_param(request);
  if (!enable) {
    respond(id, bad_request(enable.error().message));
    return;
  }
  auto ok = local_.set_service_maintenance(sid, *enable,
                                           request.query_value("reason").value_or(""),
                                           env_->clock.now());
  if (!ok) {
    respond(id, HttpResponse::text(404, fmt::format("Unknown service ID \"{}\"", sid)));
    return;
  }
  env_->logger.info("agent", "Service \"{}\" {} maintenance mode", sid,
                    *enable ? "entered" : "left");
  local_changed();
  respond(id, HttpResponse::text(200, ""));
}

}  // namespace praetor::node
