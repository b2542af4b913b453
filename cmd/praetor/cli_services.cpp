// `praetor services register|deregister` and `praetor maint`: the agent's own services and
// maintenance mode from the command line, with Consul's flags, checks, outputs and exit codes.
// They are thin clients of /v1/agent/service/register, /service/deregister/<id>,
// /v1/agent/maintenance, /service/maintenance/<id> and /v1/agent/checks.
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "cmd/praetor/commands.hpp"
#include "cmd/praetor/config_files.hpp"
#include "core/base/duration.hpp"
#include "core/node/config.hpp"

namespace praetor::cmd {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kRegisterSynopsis = "praetor services register [options] [FILE...]";
constexpr std::string_view kDeregisterSynopsis = "praetor services deregister [options] [FILE...]";
constexpr std::string_view kMaintSynopsis = "praetor maint [options]";

Result<AgentClient> connect(const HttpOptions& http) {
  auto client = AgentClient::create(http);
  if (!client) fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
  return client;
}

// A check of a service definition as Consul's api.AgentServiceCheck marshals it: only the fields
// that are set (omitempty), so the agent applies its own defaults to the rest.
Json check_body(const node::CheckDefinition& c) {
  Json j = Json::object();
  auto put = [&j](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  auto put_duration = [&j](const char* key, const std::optional<Duration>& d) {
    if (d) j[key] = format_go_duration(*d);
  };
  auto put_count = [&j](const char* key, int n) {
    if (n != 0) j[key] = n;
  };
  put("CheckID", c.id);
  put("Name", c.name);
  put("Notes", c.notes);
  put("Status", c.status);
  if (!c.args.empty()) j["Args"] = c.args;
  put("HTTP", c.http);
  put("Method", c.method);
  if (!c.header.empty()) j["Header"] = c.header;
  put("Body", c.body);
  if (c.tls_skip_verify) j["TLSSkipVerify"] = true;
  put("TCP", c.tcp);
  put_duration("TTL", c.ttl);
  put_duration("Interval", c.interval);
  put_duration("Timeout", c.timeout);
  put_duration("DeregisterCriticalServiceAfter", c.deregister_critical_service_after);
  put_count("SuccessBeforePassing", c.success_before_passing);
  put_count("FailuresBeforeWarning", c.failures_before_warning);
  put_count("FailuresBeforeCritical", c.failures_before_critical);
  if (c.output_max_size != node::CheckDefinition{}.output_max_size) {
    j["OutputMaxSize"] = c.output_max_size;
  }
  return j;
}

// The body of PUT /v1/agent/service/register for one definition read from a file.
Json service_body(const node::ServiceDefinition& s) {
  Json j = {{"Name", s.name}};
  if (!s.id.empty()) j["ID"] = s.id;
  if (!s.tags.empty()) j["Tags"] = s.tags;
  if (!s.address.empty()) j["Address"] = s.address;
  if (s.port != 0) j["Port"] = s.port;
  if (!s.meta.empty()) j["Meta"] = s.meta;
  if (s.enable_tag_override) j["EnableTagOverride"] = true;
  j["Weights"] = {{"Passing", s.weights.passing}, {"Warning", s.weights.warning}};
  if (!s.checks.empty()) {
    Json checks = Json::array();
    for (const auto& c : s.checks) checks.push_back(check_body(c));
    j["Checks"] = std::move(checks);
  }
  return j;
}

// Consul's services.ServicesFromFiles: the files (or directories) are read as agent
// configuration files, with the configuration reader's rules and messages, and their services
// are what is registered. Script checks are let through here (the reader would refuse them
// without enable_local_script_checks); the agent applies its own policy when it gets them.
Result<std::vector<node::ServiceDefinition>> services_from_files(
    const std::vector<std::string>& files) {
  std::vector<ConfigPath> paths;
  for (const auto& f : files) paths.push_back({f});
  auto read = read_config_paths(paths, "");
  if (!read) return read.error();
  for (const auto& w : read->warnings) fmt::print(stderr, "==> WARNING: {}\n", w);
  std::vector<node::ConfigSource> sources;
  sources.push_back({"services command", R"({"enable_local_script_checks": true})"});
  for (auto& s : read->sources) sources.push_back(std::move(s));
  node::LoadOptions options;
  options.dev = true;  // Consul's DevMode: defaults that validate without a data_dir or node
  options.require_data_dir = false;
  auto config = node::load_config(sources, options);
  if (!config) return config.error();
  for (const auto& w : config->warnings) fmt::print(stderr, "==> WARNING: {}\n", w);
  return std::move(config->services);
}

// -meta key=value, repeatable, as Consul's FlagMapValue (its message, capital M included).
void add_meta_flag(FlagSet& flags, std::map<std::string, std::string>* out) {
  flags.add("meta",
            "Metadata to set on the service, formatted as key=value. This flag may be specified "
            "multiple times to set multiple meta fields.",
            [out](const std::string& v) -> std::optional<std::string> {
              const auto eq = v.find('=');
              if (eq == std::string::npos) {
                return fmt::format("Missing \"=\" value in argument: {}", v);
              }
              (*out)[v.substr(0, eq)] = v.substr(eq + 1);
              return std::nullopt;
            });
}

int services_register(Args args) {
  HttpOptions http;
  std::string name, id, address;
  std::vector<std::string> tags;
  std::map<std::string, std::string> meta;
  std::int64_t port = 0;
  FlagSet flags("services register");
  add_http_flags(flags, http);
  flags.add_string("name", &name, "Name of the service to register.");
  flags.add_string("id", &id, "ID of the service to register. Defaults to the name.");
  flags.add_string("address", &address, "Address of the service; defaults to the node's.");
  flags.add_int("port", &port, "Port of the service.");
  flags.add_strings("tag", &tags,
                    "Tag to add to the service. This flag can be specified multiple times to set "
                    "multiple tags.");
  add_meta_flag(flags, &meta);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kRegisterSynopsis, flags);
  // Consul's checks and texts (the second names -id although it looks at -name).
  if (rest->empty() && name.empty()) {
    fmt::print(stderr, "Service registration requires at least one argument or flags.\n");
    return 1;
  }
  if (!rest->empty() && !name.empty()) {
    fmt::print(stderr, "Service registration requires arguments or -id, not both.\n");
    return 1;
  }
  std::vector<Json> bodies;
  std::vector<std::string> names;
  if (!rest->empty()) {
    auto services = services_from_files(*rest);
    if (!services) {
      fmt::print(stderr, "Error: {}\n", services.error().message);
      return 1;
    }
    for (const auto& s : *services) {
      bodies.push_back(service_body(s));
      names.push_back(s.name);
    }
  } else {
    // The port's range is the agent's to judge, as in Consul (Go's int flag takes any int64).
    Json body = {{"Name", name}};
    if (!id.empty()) body["ID"] = id;
    if (!tags.empty()) body["Tags"] = tags;
    if (!address.empty()) body["Address"] = address;
    if (port != 0) body["Port"] = port;
    if (!meta.empty()) body["Meta"] = meta;
    bodies.push_back(std::move(body));
    names.push_back(name);
  }
  auto client = connect(http);
  if (!client) return 1;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    auto r = client->call("PUT", "/v1/agent/service/register", "", bodies[i].dump());
    if (!r || r->status != 200) {
      fmt::print(stderr, "Error registering service \"{}\": {}\n", names[i],
                 r ? unexpected_response(*r) : r.error().message);
      return 1;
    }
    fmt::print("Registered service: {}\n", names[i]);
  }
  return 0;
}

int services_deregister(Args args) {
  HttpOptions http;
  std::string id;
  FlagSet flags("services deregister");
  add_http_flags(flags, http);
  flags.add_string("id", &id, "ID of the service to deregister.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kDeregisterSynopsis, flags);
  if (rest->empty() && id.empty()) {
    fmt::print(stderr, "Service deregistration requires at least one argument or -id.\n");
    return 1;
  }
  if (!rest->empty() && !id.empty()) {
    fmt::print(stderr, "Service deregistration requires arguments or -id, not both.\n");
    return 1;
  }
  std::vector<std::string> ids;
  if (!rest->empty()) {
    auto services = services_from_files(*rest);
    if (!services) {
      fmt::print(stderr, "Error: {}\n", services.error().message);
      return 1;
    }
    // A definition's ID defaults to its name, as the agent registered it.
    for (const auto& s : *services) ids.push_back(s.id.empty() ? s.name : s.id);
  } else {
    ids.push_back(id);
  }
  auto client = connect(http);
  if (!client) return 1;
  for (const auto& sid : ids) {
    if (sid.empty()) continue;
    auto r = client->call("PUT", "/v1/agent/service/deregister/" + escape_path(sid, false));
    if (!r || r->status != 200) {
      fmt::print(stderr, "Error deregistering service \"{}\": {}\n", sid,
                 r ? unexpected_response(*r) : r.error().message);
      return 1;
    }
    fmt::print("Deregistered service: {}\n", sid);
  }
  return 0;
}

}  // namespace

int run_services(Args args) {
  const auto usage = [] {
    fmt::print(stderr,
               "Usage: praetor services <subcommand> [options] [args]\n\n"
               "Subcommands:\n"
               "    deregister    Deregister services with the local agent\n"
               "    register      Register services with the local agent\n");
    return 1;
  };
  if (args.empty()) return usage();
  const std::string& sub = args[0];
  if (sub == "register") return services_register(args.subspan(1));
  if (sub == "deregister") return services_deregister(args.subspan(1));
  fmt::print(stderr, "Unknown services subcommand: {}\n", sub);
  return 1;
}

int run_maint(Args args) {
  HttpOptions http;
  bool enable = false, disable = false;
  std::string reason, service;
  FlagSet flags("maint");
  add_http_flags(flags, http);
  flags.add_bool("enable", &enable, "Enable maintenance mode.");
  flags.add_bool("disable", &disable, "Disable maintenance mode.");
  flags.add_string("reason", &reason, "Text describing the maintenance reason.");
  flags.add_string("service", &service, "Control maintenance mode for a specific service ID.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kMaintSynopsis, flags);
  // Consul's checks, in its order; like Consul, extra arguments are ignored.
  if (enable && disable) {
    fmt::print(stderr, "Only one of -enable or -disable may be provided\n");
    return 1;
  }
  if (!enable && !reason.empty()) {
    fmt::print(stderr, "Reason may only be provided with -enable\n");
    return 1;
  }
  if (!enable && !disable && !service.empty()) {
    fmt::print(stderr, "Service requires either -enable or -disable\n");
    return 1;
  }
  auto client = connect(http);
  if (!client) return 1;

  if (!enable && !disable) {
    // List mode: the node's name from /v1/agent/self, the maintenance checks from
    // /v1/agent/checks (sorted by check ID, so the node comes before its services).
    auto self = client->call("GET", "/v1/agent/self");
    const Json self_doc =
        self && self->status == 200 ? Json::parse(self->body, nullptr, false) : Json();
    if (!self || self->status != 200 || !self_doc.is_object()) {
      fmt::print(stderr, "Error querying agent: {}\n",
                 !self ? self.error().message
                       : (self->status != 200 ? unexpected_response(*self) : "malformed response"));
      return 1;
    }
    const std::string node_name = json_string(self_doc.value("Config", Json()), "NodeName");
    auto r = client->call("GET", "/v1/agent/checks");
    const Json checks = r && r->status == 200 ? Json::parse(r->body, nullptr, false) : Json();
    if (!r || r->status != 200 || !checks.is_object()) {
      fmt::print(stderr, "Error getting checks: {}\n",
                 !r ? r.error().message
                    : (r->status != 200 ? unexpected_response(*r) : "malformed response"));
      return 1;
    }
    for (const auto& [key, check] : checks.items()) {
      const std::string check_id = json_string(check, "CheckID");
      if (check_id == "_node_maintenance") {
        fmt::print("Node:\n  Name:   {}\n  Reason: {}\n\n", node_name, json_string(check, "Notes"));
      } else if (check_id.starts_with("_service_maintenance:")) {
        fmt::print("Service:\n  ID:     {}\n  Reason: {}\n\n", json_string(check, "ServiceID"),
                   json_string(check, "Notes"));
      }
    }
    return 0;
  }

  // Consul's api client sends reason= even when it is empty; the agent then uses its default.
  std::string query = fmt::format("enable={}", enable ? "true" : "false");
  if (enable) query += "&reason=" + escape_query(reason);
  const std::string path = service.empty()
                               ? "/v1/agent/maintenance"
                               : "/v1/agent/service/maintenance/" + escape_path(service, false);
  auto r = client->call("PUT", path, query);
  const char* verb = enable ? "enabl" : "disabl";
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error {}ing {} maintenance: {}\n", verb,
               service.empty() ? "node" : "service",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  if (service.empty()) {
    fmt::print("Node maintenance is now {}ed\n", verb);
  } else {
    fmt::print("Service maintenance is now {}ed for \"{}\"\n", verb, service);
  }
  return 0;
}

}  // namespace praetor::cmd
