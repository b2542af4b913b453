// The catalog and health endpoints (consul-compat §3.3, §3.4): registrations become Register and
// Deregister commands handed to commit(); reads render the catalog state's queries and watch the
// narrowest index that covers what they show, so a blocking query on /v1/health/service/web
// sleeps through writes to other services.
//
// Request bodies are decoded here by Consul's rule for JSON field names (consul-compat §0.1):
// a name matches a field case-insensitively and ignoring underscores, so "ServiceID",
// "serviceid" and "service_id" are one field. Unknown fields are ignored, as Go ignores them;
// a known field with the wrong type is a 400 naming it.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/base/limits.hpp"
#include "core/catalog/state.hpp"
#include "core/node/agent.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {
namespace {

using nlohmann::json;

constexpr std::string_view kCatalogServicePrefix = "/v1/catalog/service/";
constexpr std::string_view kCatalogNodePrefix = "/v1/catalog/node/";
constexpr std::string_view kHealthNodePrefix = "/v1/health/node/";
constexpr std::string_view kHealthChecksPrefix = "/v1/health/checks/";
constexpr std::string_view kHealthServicePrefix = "/v1/health/service/";
constexpr std::string_view kHealthStatePrefix = "/v1/health/state/";

HttpResponse bad_request(std::string message) {
  return HttpResponse::text(400, std::move(message));
}

std::string normalized_key(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '_') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Reads typed fields out of a JSON object; the first type error is kept for the 400.
class BodyReader {
 public:
  // The member matching `name` (given normalized), or nullptr; null counts as absent, as Go
  // leaves a field at its zero value for null.
  static const json* find(const json& object, std::string_view name) {
    const json* found = nullptr;
    for (auto it = object.begin(); it != object.end(); ++it) {
      if (normalized_key(it.key()) == name && !it.value().is_null()) found = &it.value();
    }
    return found;
  }

  const json* object(const json& parent, std::string_view name, std::string_view path) {
    const json* v = find(parent, name);
    if (v != nullptr && !v->is_object()) return fail(path, "an object");
    return v;
  }
  void text(const json& parent, std::string_view name, std::string_view path, std::string& out) {
    const json* v = find(parent, name);
    if (v == nullptr) return;
    if (!v->is_string()) {
      fail(path, "a string");
      return;
    }
    out = v->get<std::string>();
  }
  void boolean(const json& parent, std::string_view name, std::string_view path, bool& out) {
    const json* v = find(parent, name);
    if (v == nullptr) return;
    if (!v->is_boolean()) {
      fail(path, "a boolean");
      return;
    }
    out = v->get<bool>();
  }
  void number(const json& parent, std::string_view name, std::string_view path, std::uint32_t max,
              std::uint32_t& out) {
    const json* v = find(parent, name);
    if (v == nullptr) return;
    if (!v->is_number_integer() ||
        (v->is_number_integer() && !v->is_number_unsigned() && v->get<std::int64_t>() < 0) ||
        v->get<std::uint64_t>() > max) {
      fail(path, fmt::format("an integer from 0 to {}", max));
      return;
    }
    out = static_cast<std::uint32_t>(v->get<std::uint64_t>());
  }
  void strings(const json& parent, std::string_view name, std::string_view path,
               std::vector<std::string>& out) {
    const json* v = find(parent, name);
    if (v == nullptr) return;
    if (!v->is_array()) {
      fail(path, "an array of strings");
      return;
    }
    out.clear();
    for (const auto& item : *v) {
      if (!item.is_string()) {
        fail(path, "an array of strings");
        return;
      }
      out.push_back(item.get<std::string>());
    }
  }
  void string_map(const json& parent, std::string_view name, std::string_view path,
                  std::map<std::string, std::string>& out) {
    const json* v = find(parent, name);
    if (v == nullptr) return;
    if (!v->is_object()) {
      fail(path, "an object of strings");
      return;
    }
    out.clear();
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it.value().is_string()) {
        fail(fmt::format("{}.{}", path, it.key()), "a string");
        return;
      }
      out[it.key()] = it.value().get<std::string>();
    }
  }

  const json* fail(std::string_view path, std::string_view expected) {
    if (!error) error = fmt::format("Request decode failed: {}: expected {}", path, expected);
    return nullptr;
  }
  std::optional<std::string> error;
};

Result<json> parse_object(const std::string& body) {
  if (body.empty()) return make_error(ErrorCode::kInvalidArgument, "Request decode failed: EOF");
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return make_error(ErrorCode::kInvalidArgument, "Request decode failed: malformed JSON");
  }
  if (!doc.is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "Request decode failed: the body must be a JSON object");
  }
  return doc;
}

std::optional<std::string> too_large(const HttpRequest& request) {
  if (request.body.size() <= limits::kCatalogMaxRegisterBodyBytes) return std::nullopt;
  return fmt::format("Request body({} bytes) too large, max size: {} bytes.", request.body.size(),
                     limits::kCatalogMaxRegisterBodyBytes);
}

std::optional<catalog::HealthStatus> parse_status(std::string_view text) {
  // An empty status is critical: a check starts failing until it has passed (Consul).
  if (text.empty() || text == "critical") return catalog::HealthStatus::kCritical;
  if (text == "passing") return catalog::HealthStatus::kPassing;
  if (text == "warning") return catalog::HealthStatus::kWarning;
  return std::nullopt;
}

void read_check(BodyReader& r, const json& j, std::string_view path, catalog::CheckDef& c) {
  r.text(j, "node", fmt::format("{}.Node", path), c.node);
  r.text(j, "checkid", fmt::format("{}.CheckID", path), c.check_id);
  r.text(j, "name", fmt::format("{}.Name", path), c.name);
  r.text(j, "notes", fmt::format("{}.Notes", path), c.notes);
  r.text(j, "output", fmt::format("{}.Output", path), c.output);
  r.text(j, "serviceid", fmt::format("{}.ServiceID", path), c.service_id);
  r.text(j, "type", fmt::format("{}.Type", path), c.type);
  r.text(j, "interval", fmt::format("{}.Interval", path), c.interval);
  r.text(j, "timeout", fmt::format("{}.Timeout", path), c.timeout);
  // Consul keeps a check's probe settings in Definition; older clients send them there.
  if (const json* d = r.object(j, "definition", fmt::format("{}.Definition", path))) {
    if (c.interval.empty())
      r.text(*d, "interval", fmt::format("{}.Definition.Interval", path), c.interval);
    if (c.timeout.empty())
      r.text(*d, "timeout", fmt::format("{}.Definition.Timeout", path), c.timeout);
  }
  std::string status;
  r.text(j, "status", fmt::format("{}.Status", path), status);
  if (auto s = parse_status(status)) {
    c.status = *s;
  } else if (!r.error) {
    r.error = fmt::format("Invalid check status: \"{}\"", status);
  }
}

Result<catalog::Register> parse_register(const json& j) {
  BodyReader r;
  catalog::Register c;
  r.text(j, "id", "ID", c.node.id);
  r.text(j, "node", "Node", c.node.name);
  r.text(j, "address", "Address", c.node.address);
  r.string_map(j, "taggedaddresses", "TaggedAddresses", c.node.tagged_addresses);
  r.string_map(j, "nodemeta", "NodeMeta", c.node.meta);
  r.boolean(j, "skipnodeupdate", "SkipNodeUpdate", c.skip_node_update);
  if (const json* s = r.object(j, "service", "Service")) {
    catalog::ServiceDef def;
    r.text(*s, "id", "Service.ID", def.id);
    r.text(*s, "service", "Service.Service", def.name);
    r.strings(*s, "tags", "Service.Tags", def.tags);
    r.text(*s, "address", "Service.Address", def.address);
    r.number(*s, "port", "Service.Port", 65535, def.port);
    r.string_map(*s, "meta", "Service.Meta", def.meta);
    r.boolean(*s, "enabletagoverride", "Service.EnableTagOverride", def.enable_tag_override);
    if (const json* w = r.object(*s, "weights", "Service.Weights")) {
      r.number(*w, "passing", "Service.Weights.Passing", UINT32_MAX, def.weight_passing);
      r.number(*w, "warning", "Service.Weights.Warning", UINT32_MAX, def.weight_warning);
    }
    c.service = std::move(def);
  }
  // Consul takes one Check, a list of Checks, or both (the single one first).
  if (const json* k = r.object(j, "check", "Check"))
    read_check(r, *k, "Check", c.checks.emplace_back());
  if (const json* list = BodyReader::find(j, "checks")) {
    if (!list->is_array()) {
      r.fail("Checks", "an array of objects");
    } else if (list->size() > limits::kCatalogMaxChecksPerRegister) {
      r.error = fmt::format("Checks: more than {} checks", limits::kCatalogMaxChecksPerRegister);
    } else {
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string path = fmt::format("Checks[{}]", i);
        if (!(*list)[i].is_object()) {
          r.fail(path, "an object");
          break;
        }
        read_check(r, (*list)[i], path, c.checks.emplace_back());
      }
    }
  }
  if (r.error) return make_error(ErrorCode::kInvalidArgument, *r.error);
  return c;
}

// ?node-meta=key:value, repeatable (Consul splits at the first colon; no colon is an empty
// value).
catalog::MetaFilter meta_filter(const HttpRequest& request) {
  catalog::MetaFilter out;
  for (const auto& [name, value] : request.query) {
    if (name != "node-meta") continue;
    const auto colon = value.find(':');
    if (colon == std::string::npos) {
      out.emplace_back(value, "");
    } else {
      out.emplace_back(value.substr(0, colon), value.substr(colon + 1));
    }
  }
  return out;
}

std::vector<std::string> tag_filter(const HttpRequest& request) {
  std::vector<std::string> out;
  for (const auto& [name, value] : request.query) {
    if (name == "tag") out.push_back(value);
  }
  return out;
}

json string_map_json(const std::map<std::string, std::string>& map) {
  // An empty map is {} rather than Go's null, so a client can always iterate it.
  return map.empty() ? json::object() : json(map);
}

json node_json(const catalog::NodeRecord& n, const std::string& datacenter) {
  return json{{"ID", n.def.id},
              {"Node", n.def.name},
              {"Address", n.def.address},
              {"Datacenter", datacenter},
              {"TaggedAddresses", string_map_json(n.def.tagged_addresses)},
              {"Meta", string_map_json(n.def.meta)},
              {"CreateIndex", n.create_index},
              {"ModifyIndex", n.modify_index}};
}

json weights_json(const catalog::ServiceDef& s) {
  return json{{"Passing", s.weight_passing}, {"Warning", s.weight_warning}};
}

json service_json(const catalog::ServiceRecord& s) {
  return json{{"ID", s.def.id},
              {"Service", s.def.name},
              {"Tags", json(s.def.tags)},
              {"Address", s.def.address},
              {"Port", s.def.port},
              {"Meta", string_map_json(s.def.meta)},
              {"Weights", weights_json(s.def)},
              {"EnableTagOverride", s.def.enable_tag_override},
              {"CreateIndex", s.create_index},
              {"ModifyIndex", s.modify_index}};
}

json catalog_service_json(const catalog::ServiceInstance& i, const std::string& datacenter) {
  const auto& n = *i.node;
  const auto& s = *i.service;
  return json{{"ID", n.def.id},
              {"Node", n.def.name},
              {"Address", n.def.address},
              {"Datacenter", datacenter},
              {"TaggedAddresses", string_map_json(n.def.tagged_addresses)},
              {"NodeMeta", string_map_json(n.def.meta)},
              {"ServiceKind", ""},
              {"ServiceID", s.def.id},
              {"ServiceName", s.def.name},
              {"ServiceTags", json(s.def.tags)},
              {"ServiceAddress", s.def.address},
              {"ServicePort", s.def.port},
              {"ServiceMeta", string_map_json(s.def.meta)},
              {"ServiceEnableTagOverride", s.def.enable_tag_override},
              {"ServiceWeights", weights_json(s.def)},
              {"CreateIndex", s.create_index},
              {"ModifyIndex", s.modify_index}};
}

json check_json(const catalog::CatalogState& state, const catalog::CheckRecord& c) {
  json tags = json::array();
  if (!c.def.service_id.empty()) {
    if (const auto* s = state.service(c.def.node, c.def.service_id)) tags = json(s->def.tags);
  }
  return json{{"Node", c.def.node},
              {"CheckID", c.def.check_id},
              {"Name", c.def.name},
              {"Status", std::string(catalog::health_status_name(c.def.status))},
              {"Notes", c.def.notes},
              {"Output", c.def.output},
              {"ServiceID", c.def.service_id},
              {"ServiceName", c.service_name},
              {"ServiceTags", tags},
              {"Type", c.def.type},
              {"Interval", c.def.interval},
              {"Timeout", c.def.timeout},
              {"ExposedPort", 0},
              {"Definition", json::object()},
              {"CreateIndex", c.create_index},
              {"ModifyIndex", c.modify_index}};
}

json checks_json(const catalog::CatalogState& state,
                 const std::vector<const catalog::CheckRecord*>& checks) {
  json out = json::array();
  for (const auto* c : checks) out.push_back(check_json(state, *c));
  return out;
}

// The path parameter after a prefix (already percent-decoded: ids may contain '/').
std::string path_rest(const HttpRequest& request, std::string_view prefix) {
  return request.path.size() > prefix.size() ? request.path.substr(prefix.size()) : "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writes

void Agent::catalog_register(RequestId id, HttpRequest& request) {
  if (auto why = too_large(request)) {
    respond(id, HttpResponse::text(413, std::move(*why)));
    return;
  }
  auto doc = parse_object(request.body);
  if (!doc) {
    respond(id, bad_request(doc.error().message));
    return;
  }
  auto command = parse_register(*doc);
  if (!command) {
    respond(id, bad_request(command.error().message));
    return;
  }
  std::string datacenter;
  BodyReader r;
  r.text(*doc, "datacenter", "Datacenter", datacenter);
  if (!datacenter.empty() && datacenter != config_.datacenter) {
    respond(id, HttpResponse::text(500, "No path to datacenter"));
    return;
  }
  // Over a cap the entry could not be decoded once committed, which would stop every server:
  // refuse it here, before it is proposed.
  if (auto why = catalog::register_limits_error(*command)) {
    respond(id, bad_request(std::move(*why)));
    return;
  }
  commit(id, std::move(*command));
}

void Agent::catalog_deregister(RequestId id, HttpRequest& request) {
  if (auto why = too_large(request)) {
    respond(id, HttpResponse::text(413, std::move(*why)));
    return;
  }
  auto doc = parse_object(request.body);
  if (!doc) {
    respond(id, bad_request(doc.error().message));
    return;
  }
  BodyReader r;
  catalog::Deregister command;
  std::string datacenter;
  r.text(*doc, "node", "Node", command.node);
  r.text(*doc, "serviceid", "ServiceID", command.service_id);
  r.text(*doc, "checkid", "CheckID", command.check_id);
  r.text(*doc, "datacenter", "Datacenter", datacenter);
  if (r.error) {
    respond(id, bad_request(*r.error));
    return;
  }
  if (!datacenter.empty() && datacenter != config_.datacenter) {
    respond(id, HttpResponse::text(500, "No path to datacenter"));
    return;
  }
  for (const std::string* s : {&command.node, &command.service_id, &command.check_id}) {
    if (s->size() > limits::kCatalogMaxNameBytes) {
      respond(id, bad_request(fmt::format("Request decode failed: a name is longer than {} bytes",
                                          limits::kCatalogMaxNameBytes)));
      return;
    }
  }
  commit(id, std::move(command));
}

// ---------------------------------------------------------------------------------------------
// Catalog reads

void Agent::catalog_nodes(RequestId id, HttpRequest& request) {
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().nodes_index(); },
      [this, &request] {
        json out = json::array();
        for (const auto* n : fsm_.catalog().nodes(meta_filter(request)).value) {
          out.push_back(node_json(*n, config_.datacenter));
        }
        return HttpResponse::json(200, json_text(out));
      });
}

void Agent::catalog_services(RequestId id, HttpRequest& request) {
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().services_index(); },
      [this, &request] {
        json out = json::object();
        for (const auto& [name, tags] : fsm_.catalog().services(meta_filter(request)).value) {
          out[name] = json(tags);
        }
        return HttpResponse::json(200, json_text(out));
      });
}

void Agent::catalog_service(RequestId id, HttpRequest& request) {
  const std::string name = path_rest(request, kCatalogServicePrefix);
  if (name.empty()) {
    respond(id, bad_request("Missing service name"));
    return;
  }
  serve_read(
      id, request,
      [name](const catalog::Fsm& fsm) { return fsm.catalog().service_name_index(name); },
      [this, &request, &name] {
        json out = json::array();
        const auto instances =
            fsm_.catalog().service_instances(name, tag_filter(request), meta_filter(request));
        for (const auto& i : instances.value) {
          out.push_back(catalog_service_json(i, config_.datacenter));
        }
        return HttpResponse::json(200, json_text(out));
      });
}

void Agent::catalog_node(RequestId id, HttpRequest& request) {
  const std::string node = path_rest(request, kCatalogNodePrefix);
  if (node.empty()) {
    respond(id, bad_request("Missing node name"));
    return;
  }
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().node_index(); },
      [this, &node] {
        const auto found = fsm_.catalog().node_services(node);
        // An unknown node is 200 with null, as in Consul.
        if (!found.value) return HttpResponse::json(200, "null");
        json services = json::object();
        for (const auto* s : found.value->services) services[s->def.id] = service_json(*s);
        json out = {{"Node", node_json(*found.value->node, config_.datacenter)},
                    {"Services", services}};
        return HttpResponse::json(200, json_text(out));
      });
}

// ---------------------------------------------------------------------------------------------
// Health reads

void Agent::health_node(RequestId id, HttpRequest& request) {
  const std::string node = path_rest(request, kHealthNodePrefix);
  if (node.empty()) {
    respond(id, bad_request("Missing node name"));
    return;
  }
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().checks_index(); },
      [this, &node] {
        const auto& state = fsm_.catalog();
        return HttpResponse::json(200,
                                  json_text(checks_json(state, state.node_checks(node).value)));
      });
}

void Agent::health_checks(RequestId id, HttpRequest& request) {
  const std::string name = path_rest(request, kHealthChecksPrefix);
  if (name.empty()) {
    respond(id, bad_request("Missing service name"));
    return;
  }
  serve_read(
      id, request,
      [name](const catalog::Fsm& fsm) { return fsm.catalog().service_name_index(name); },
      [this, &request, &name] {
        const auto& state = fsm_.catalog();
        const auto checks = state.service_checks(name, meta_filter(request));
        return HttpResponse::json(200, json_text(checks_json(state, checks.value)));
      });
}

void Agent::health_service(RequestId id, HttpRequest& request) {
  const std::string name = path_rest(request, kHealthServicePrefix);
  if (name.empty()) {
    respond(id, bad_request("Missing service name"));
    return;
  }
  // ?passing counts when present, and is read as a boolean when it has a value.
  bool passing = false;
  if (auto value = request.query_value("passing")) {
    static const std::vector<std::string_view> kTrue = {"", "1", "t", "T", "true", "TRUE", "True"};
    static const std::vector<std::string_view> kFalse = {"0", "f", "F", "false", "FALSE", "False"};
    if (std::find(kTrue.begin(), kTrue.end(), *value) != kTrue.end()) {
      passing = true;
    } else if (std::find(kFalse.begin(), kFalse.end(), *value) == kFalse.end()) {
      respond(id, bad_request("Invalid value for ?passing"));
      return;
    }
  }
  serve_read(
      id, request,
      [name](const catalog::Fsm& fsm) { return fsm.catalog().service_name_index(name); },
      [this, &request, &name, passing] {
        const auto& state = fsm_.catalog();
        const auto entries =
            state.health_service(name, tag_filter(request), meta_filter(request), passing);
        json out = json::array();
        for (const auto& e : entries.value) {
          out.push_back({{"Node", node_json(*e.node, config_.datacenter)},
                         {"Service", service_json(*e.service)},
                         {"Checks", checks_json(state, e.checks)}});
        }
        return HttpResponse::json(200, json_text(out));
      });
}

void Agent::health_state(RequestId id, HttpRequest& request) {
  const std::string state_name = path_rest(request, kHealthStatePrefix);
  catalog::CheckStateFilter filter{};
  if (state_name.empty()) {
    respond(id, bad_request("Missing check state"));
    return;
  }
  if (state_name == "any") {
    filter = catalog::CheckStateFilter::kAny;
  } else if (state_name == "passing") {
    filter = catalog::CheckStateFilter::kPassing;
  } else if (state_name == "warning") {
    filter = catalog::CheckStateFilter::kWarning;
  } else if (state_name == "critical") {
    filter = catalog::CheckStateFilter::kCritical;
  } else {
    // Consul answers an unknown state with an empty list; a typo then looks like a healthy
    // cluster, so it is refused (decision D25).
    respond(id, bad_request(fmt::format(
                    "Invalid check state \"{}\": must be any, passing, warning or critical",
                    state_name)));
    return;
  }
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().checks_index(); },
      [this, &request, filter] {
        const auto& state = fsm_.catalog();
        const auto checks = state.checks_in_state(filter, meta_filter(request));
        return HttpResponse::json(200, json_text(checks_json(state, checks.value)));
      });
}

}  // namespace praetor::node
