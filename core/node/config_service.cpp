// Service and check definitions in config files ("service"/"services", "check"/"checks").
// Field names follow Consul's agent config; defaults follow what Consul's agent fills in when it
// registers local definitions (check IDs "service:<id>[:n]", names "Service '<name>' check").
#include <fmt/format.h>

#include <array>

#include "core/base/limits.hpp"
#include "core/node/config_reader.hpp"

namespace praetor::node::config_detail {
namespace {

// Parsed check plus the type-selecting keys we saw, for validation after the walk.
struct CheckDraft {
  CheckDefinition def;
  std::string script;  // legacy "script": run through /bin/sh -c
  bool has_args = false;
  std::vector<std::string> unsupported;  // grpc, docker, alias...: types we cannot run
};

void read_header(Reader& r, const Json& v, const std::string& path,
                 std::map<std::string, std::vector<std::string>>& out) {
  if (!r.is_object(v, path)) return;
  for (const auto& [name, values] : v.items()) {
    std::vector<std::string> list;
    if (!r.append(values, join_path(path, name), list)) return;
    auto& slot = out[name];
    slot.insert(slot.end(), list.begin(), list.end());
  }
}

template <typename T>
using F = Field<T>;

void unsupported_type(Reader&, const Json&, const std::string& path, CheckDraft& c) {
  c.unsupported.push_back(path);
}

// Strings, booleans and durations of the check definition itself.
template <auto Member>
void check_value(Reader& r, const Json& v, const std::string& p, CheckDraft& c) {
  r.read(v, p, c.def.*Member);
}

template <auto Member>
void check_count(Reader& r, const Json& v, const std::string& p, CheckDraft& c) {
  r.read_int(v, p, c.def.*Member, 0);
}

void check_status(Reader& r, const Json& v, const std::string& p, CheckDraft& c) {
  if (!r.read(v, p, c.def.status)) return;
  const auto& s = c.def.status;
  if (!s.empty() && s != "passing" && s != "warning" && s != "critical") {
    r.fail(p, fmt::format("expected \"passing\", \"warning\" or \"critical\", got \"{}\"", s));
  }
}

void check_script(Reader& r, const Json& v, const std::string& p, CheckDraft& c) {
  r.read(v, p, c.script);
}

void check_args(Reader& r, const Json& v, const std::string& p, CheckDraft& c) {
  c.has_args = r.append(v, p, c.def.args);
}

void check_header(Reader& r, const Json& v, const std::string& p, CheckDraft& c) {
  read_header(r, v, p, c.def.header);
}

void check_output_max_size(Reader& r, const Json& v, const std::string& p, CheckDraft& c) {
  constexpr std::size_t kMax = limits::kCheckOutputMaxBytes * 1024;
  std::int64_t n = 0;
  if (!r.read(v, p, n)) return;
  if (n < 1 || static_cast<std::size_t>(n) > kMax) {
    r.fail(p, fmt::format("expected a size between 1 and {}", kMax));
    return;
  }
  c.def.output_max_size = static_cast<std::size_t>(n);
}

using C = CheckDefinition;

constexpr F<CheckDraft> kCheckFields[] = {
    {"id", check_value<&C::id>},
    {"check_id", check_value<&C::id>},
    {"name", check_value<&C::name>},
    {"notes", check_value<&C::notes>},
    {"service_id", check_value<&C::service_id>},
    {"status", check_status},
    {"script", check_script},
    {"args", check_args},
    {"script_args", check_args},
    {"http", check_value<&C::http>},
    {"method", check_value<&C::method>},
    {"header", check_header},
    {"body", check_value<&C::body>},
    {"tls_skip_verify", check_value<&C::tls_skip_verify>},
    {"tcp", check_value<&C::tcp>},
    {"ttl", check_value<&C::ttl>},
    {"interval", check_value<&C::interval>},
    {"timeout", check_value<&C::timeout>},
    {"deregister_critical_service_after", check_value<&C::deregister_critical_service_after>},
    {"success_before_passing", check_count<&C::success_before_passing>},
    {"failures_before_warning", check_count<&C::failures_before_warning>},
    {"failures_before_critical", check_count<&C::failures_before_critical>},
    {"output_max_size", check_output_max_size},
    {"udp", unsupported_type},
    {"grpc", unsupported_type},
    {"h2ping", unsupported_type},
    {"docker_container_id", unsupported_type},
    {"alias_node", unsupported_type},
    {"alias_service", unsupported_type},
    {"os_service", unsupported_type},
};

// Accepted and ignored: TLS and gRPC details of check types we do not run, the ACL token.
constexpr std::array<const char*, 8> kCheckIgnored = {
    "tls_server_name", "disable_redirects", "grpc_use_tls", "h2ping_use_tls", "shell",
    "token",           "namespace",         "partition"};

void validate_check(Reader& r, CheckDraft& c, const std::string& path) {
  if (!c.unsupported.empty()) {
    r.fail(c.unsupported.front(),
           "this check type is not supported yet (supported: args/script, "
           "http, tcp, ttl)");
    return;
  }
  if (!c.script.empty()) {
    if (c.has_args) {
      r.fail(join_path(path, "script"), "cannot be combined with args");
      return;
    }
    c.def.args = {"/bin/sh", "-c", c.script};
    c.has_args = true;
  }
  const int kinds = (c.has_args ? 1 : 0) + (c.def.http.empty() ? 0 : 1) +
                    (c.def.tcp.empty() ? 0 : 1) + (c.def.ttl ? 1 : 0);
  if (kinds == 0) {
    r.fail(path, "Must provide TTL or Script/DockerContainerID/HTTP/TCP and Interval");
    return;
  }
  if (kinds > 1) {
    r.fail(path, "expected exactly one of args (or script), http, tcp, ttl");
    return;
  }
  if (c.has_args && c.def.args.empty()) {
    r.fail(join_path(path, "args"), "expected a non-empty command");
    return;
  }
  if (c.def.ttl) {
    if (c.def.interval && c.def.interval->count_ns() > 0) {
      r.fail(path, "Interval and TTL cannot both be specified");
    } else if (c.def.ttl->count_ns() <= 0) {
      r.fail(join_path(path, "ttl"), "TTL must be > 0 for TTL checks");
    }
    return;
  }
  if (!c.def.interval || c.def.interval->count_ns() <= 0) {
    r.fail(join_path(path, "interval"), "Interval must be > 0 for Script, HTTP or TCP checks");
  }
  if (c.has_args) r.state().script_checks.push_back({r.file(), path});
}

Result<CheckDefinition> read_check_object(Reader& r, const Json& v, const std::string& path) {
  CheckDraft draft;
  walk_object<CheckDraft>(r, v, path, kCheckFields, draft, kCheckIgnored);
  if (r.ok()) validate_check(r, draft, path);
  if (!r.ok()) return r.error();
  // Consul defaults a check's failures_before_warning to failures_before_critical.
  if (draft.def.failures_before_warning == 0) {
    draft.def.failures_before_warning = draft.def.failures_before_critical;
  }
  return draft.def;
}

// "check": {...} or "checks": [{...}, ...]; both accepted for either key.
template <typename Fn>
void for_each_object(Reader& r, const Json& v, const std::string& path, Fn&& fn) {
  if (v.is_object()) {
    fn(v, path);
    return;
  }
  if (!v.is_array()) {
    r.fail(path, "expected an object or a list of objects");
    return;
  }
  for (std::size_t i = 0; i < v.size() && r.ok(); ++i) fn(v[i], fmt::format("{}[{}]", path, i));
}

struct ServiceDraft {
  ServiceDefinition def;
};

void read_service_checks(Reader& r, const Json& v, const std::string& path, ServiceDraft& s) {
  for_each_object(r, v, path, [&](const Json& obj, const std::string& p) {
    auto check = read_check_object(r, obj, p);
    if (!check) return;
    s.def.checks.push_back(std::move(*check));
  });
}

template <auto Member>
void service_value(Reader& r, const Json& v, const std::string& p, ServiceDraft& s) {
  r.read(v, p, s.def.*Member);
}

void service_tags(Reader& r, const Json& v, const std::string& p, ServiceDraft& s) {
  r.append(v, p, s.def.tags);
}

void service_port(Reader& r, const Json& v, const std::string& p, ServiceDraft& s) {
  r.read_int(v, p, s.def.port, 0, 65535);
}

void service_meta(Reader& r, const Json& v, const std::string& p, ServiceDraft& s) {
  r.merge(v, p, s.def.meta);
}

void service_weights(Reader& r, const Json& v, const std::string& p, ServiceDraft& s) {
  if (!r.is_object(v, p)) return;
  for (const auto& [key, value] : v.items()) {
    const auto k = normalize_key(key);
    if (k == "passing") {
      r.read_int(value, join_path(p, "passing"), s.def.weights.passing, 1);
    } else if (k == "warning") {
      r.read_int(value, join_path(p, "warning"), s.def.weights.warning, 0);
    } else {
      r.warn(join_path(p, key), "unknown configuration key, ignored (Consul rejects it)");
    }
  }
}

void service_kind(Reader& r, const Json& v, const std::string& p, ServiceDraft&) {
  std::string kind;
  if (r.read(v, p, kind) && !kind.empty() && kind != "typical") {
    r.fail(p,
           fmt::format("service kind \"{}\" is not supported (Connect is not implemented)", kind));
  }
}

using S = ServiceDefinition;

constexpr F<ServiceDraft> kServiceFields[] = {
    {"id", service_value<&S::id>},
    {"name", service_value<&S::name>},
    {"tags", service_tags},
    {"address", service_value<&S::address>},
    {"port", service_port},
    {"meta", service_meta},
    {"enable_tag_override", service_value<&S::enable_tag_override>},
    {"weights", service_weights},
    {"check", read_service_checks},
    {"checks", read_service_checks},
    {"kind", service_kind},
};

// Accepted and ignored: Connect, per-service tokens and tagged addresses (not served yet).
constexpr std::array<const char*, 7> kServiceIgnored = {
    "tagged_addresses", "token", "connect", "proxy", "namespace", "partition", "locality"};

void finish_service(Reader& r, ServiceDraft& s, const std::string& path) {
  if (s.def.name.empty()) {
    r.fail(join_path(path, "name"), "missing service name");
    return;
  }
  if (s.def.id.empty()) s.def.id = s.def.name;
  const bool many = s.def.checks.size() > 1;
  for (std::size_t i = 0; i < s.def.checks.size(); ++i) {
    auto& c = s.def.checks[i];
    // A check inside a service definition always belongs to that service, as in Consul.
    c.service_id = s.def.id;
    if (c.id.empty())
      c.id = many ? fmt::format("service:{}:{}", s.def.id, i + 1)
                  : fmt::format("service:{}", s.def.id);
    if (c.name.empty()) c.name = fmt::format("Service '{}' check", s.def.name);
  }
}

}  // namespace

void read_service_list(Reader& r, const Json& v, const std::string& path,
                       std::vector<ServiceDefinition>& out) {
  for_each_object(r, v, path, [&](const Json& obj, const std::string& p) {
    ServiceDraft draft;
    walk_object<ServiceDraft>(r, obj, p, kServiceFields, draft, kServiceIgnored);
    if (r.ok()) finish_service(r, draft, p);
    if (r.ok()) out.push_back(std::move(draft.def));
  });
}

void read_check_list(Reader& r, const Json& v, const std::string& path,
                     std::vector<CheckDefinition>& out) {
  for_each_object(r, v, path, [&](const Json& obj, const std::string& p) {
    auto check = read_check_object(r, obj, p);
    if (!check) return;
    if (check->name.empty()) {
      r.fail(join_path(p, "name"), "missing check name");
      return;
    }
    if (check->id.empty()) check->id = check->name;
    out.push_back(std::move(*check));
  });
}

}  // namespace praetor::node::config_detail
