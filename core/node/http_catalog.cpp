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
#include "core/dns/message.hpp"
#include "core/node/agent.hpp"
#include "core/node/json_text.hpp"
#include "core/node/json_writer.hpp"

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

// The answers are written with JsonWriter (json_writer.hpp): keys in ascending order, as the
// nlohmann documents these functions used to build listed them, so the text is unchanged.

void write_node(JsonWriter& w, const catalog::NodeRecord& n, const std::string& datacenter) {
  w.begin_object();
  w.key("Address").value(n.def.address);
  w.key("CreateIndex").value(n.create_index);
  w.key("Datacenter").value(datacenter);
  w.key("ID").value(n.def.id);
  // An empty map is {} rather than Go's null, so a client can always iterate it.
  w.key("Meta").value(n.def.meta);
  w.key("ModifyIndex").value(n.modify_index);
  w.key("Node").value(n.def.name);
  w.key("TaggedAddresses").value(n.def.tagged_addresses);
  w.end_object();
}

void write_weights(JsonWriter& w, const catalog::ServiceDef& s) {
  w.begin_object();
  w.key("Passing").value(s.weight_passing);
  w.key("Warning").value(s.weight_warning);
  w.end_object();
}

void write_service(JsonWriter& w, const catalog::ServiceRecord& s) {
  w.begin_object();
  w.key("Address").value(s.def.address);
  w.key("CreateIndex").value(s.create_index);
  w.key("EnableTagOverride").value(s.def.enable_tag_override);
  w.key("ID").value(s.def.id);
  w.key("Meta").value(s.def.meta);
  w.key("ModifyIndex").value(s.modify_index);
  w.key("Port").value(s.def.port);
  w.key("Service").value(s.def.name);
  w.key("Tags").value(s.def.tags);
  w.key("Weights");
  write_weights(w, s.def);
  w.end_object();
}

void write_catalog_service(JsonWriter& w, const catalog::ServiceInstance& i,
                           const std::string& datacenter) {
  const auto& n = *i.node;
  const auto& s = *i.service;
  w.begin_object();
  w.key("Address").value(n.def.address);
  w.key("CreateIndex").value(s.create_index);
  w.key("Datacenter").value(datacenter);
  w.key("ID").value(n.def.id);
  w.key("ModifyIndex").value(s.modify_index);
  w.key("Node").value(n.def.name);
  w.key("NodeMeta").value(n.def.meta);
  w.key("ServiceAddress").value(s.def.address);
  w.key("ServiceEnableTagOverride").value(s.def.enable_tag_override);
  w.key("ServiceID").value(s.def.id);
  w.key("ServiceKind").value("");
  w.key("ServiceMeta").value(s.def.meta);
  w.key("ServiceName").value(s.def.name);
  w.key("ServicePort").value(s.def.port);
  w.key("ServiceTags").value(s.def.tags);
  w.key("ServiceWeights");
  write_weights(w, s.def);
  w.key("TaggedAddresses").value(n.def.tagged_addresses);
  w.end_object();
}

// `service` is the check's service when the caller has it at hand (nullptr: looked up), for the
// ServiceTags field.
void write_check(JsonWriter& w, const catalog::CatalogState& state, const catalog::CheckRecord& c,
                 const catalog::ServiceRecord* service = nullptr) {
  static const std::vector<std::string> kNoTags;
  if (service == nullptr && !c.def.service_id.empty()) {
    service = state.service(c.def.node, c.def.service_id);
  }
  const auto& tags = service != nullptr && !c.def.service_id.empty() ? service->def.tags : kNoTags;
  w.begin_object();
  w.key("CheckID").value(c.def.check_id);
  w.key("CreateIndex").value(c.create_index);
  w.key("Definition").begin_object();
  w.end_object();
  w.key("ExposedPort").value(std::uint64_t{0});
  w.key("Interval").value(c.def.interval);
  w.key("ModifyIndex").value(c.modify_index);
  w.key("Name").value(c.def.name);
  w.key("Node").value(c.def.node);
  w.key("Notes").value(c.def.notes);
  w.key("Output").value(c.def.output);
  w.key("ServiceID").value(c.def.service_id);
  w.key("ServiceName").value(c.service_name);
  w.key("ServiceTags").value(tags);
  w.key("Status").value(catalog::health_status_name(c.def.status));
  w.key("Timeout").value(c.def.timeout);
  w.key("Type").value(c.def.type);
  w.end_object();
}

std::string checks_text(const catalog::CatalogState& state,
                        const std::vector<const catalog::CheckRecord*>& checks) {
  JsonWriter w(checks.size() * 400 + 2);
  w.begin_array();
  for (const auto* c : checks) write_check(w, state, *c);
  w.end_array();
  return w.take();
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
  if (!datacenter.empty() && !dns::iequals(datacenter, config_.datacenter)) {
    // As Consul: the body's Datacenter sends the request there, as ?dc= would.
    forward_to_datacenter(id, datacenter, std::move(request));
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
  if (!datacenter.empty() && !dns::iequals(datacenter, config_.datacenter)) {
    // As Consul: the body's Datacenter sends the request there, as ?dc= would.
    forward_to_datacenter(id, datacenter, std::move(request));
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
        const auto nodes = fsm_.catalog().nodes(meta_filter(request));
        JsonWriter w(nodes.value.size() * 300 + 2);
        w.begin_array();
        for (const auto* n : nodes.value) write_node(w, *n, config_.datacenter);
        w.end_array();
        return HttpResponse::json(200, w.take());
      });
}

void Agent::catalog_services(RequestId id, HttpRequest& request) {
  serve_read(
      id, request, [](const catalog::Fsm& fsm) { return fsm.catalog().services_index(); },
      [this, &request] {
        JsonWriter w;
        w.begin_object();
        for (const auto& [name, tags] : fsm_.catalog().services(meta_filter(request)).value) {
          w.data_key(name).value(tags);
        }
        w.end_object();
        return HttpResponse::json(200, w.take());
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
        const auto instances =
            fsm_.catalog().service_instances(name, tag_filter(request), meta_filter(request));
        JsonWriter w(instances.value.size() * 500 + 2);
        w.begin_array();
        for (const auto& i : instances.value) write_catalog_service(w, i, config_.datacenter);
        w.end_array();
        return HttpResponse::json(200, w.take());
      },
      IndexOrder::kMonotonic, /*cacheable=*/true);
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
        // Services by id: node_services lists them in id order, nlohmann's key order.
        JsonWriter w;
        w.begin_object();
        w.key("Node");
        write_node(w, *found.value->node, config_.datacenter);
        w.key("Services").begin_object();
        for (const auto* s : found.value->services) {
          w.data_key(s->def.id);
          write_service(w, *s);
        }
        w.end_object();
        w.end_object();
        return HttpResponse::json(200, w.take());
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
        return HttpResponse::json(200, checks_text(state, state.node_checks(node).value));
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
        return HttpResponse::json(200, checks_text(state, checks.value));
      },
      IndexOrder::kMonotonic, /*cacheable=*/true);
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
        JsonWriter w(entries.value.size() * 1024 + 2);
        w.begin_array();
        for (const auto& e : entries.value) {
          w.begin_object();
          w.key("Checks").begin_array();
          for (const auto* c : e.checks) write_check(w, state, *c, e.service);
          w.end_array();
          w.key("Node");
          write_node(w, *e.node, config_.datacenter);
          w.key("Service");
          write_service(w, *e.service);
          w.end_object();
        }
        w.end_array();
        return HttpResponse::json(200, w.take());
      },
      IndexOrder::kMonotonic, /*cacheable=*/true);
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
        return HttpResponse::json(200, checks_text(state, checks.value));
      });
}

}  // namespace praetor::node
