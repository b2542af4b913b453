// Consul's agent configuration model (consul-compat.md §1): JSON sources merged in order onto
// the defaults, then checked as a whole. Everything here is pure: callers read the files.
#include "core/node/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

#include "core/base/bytes.hpp"
#include "core/base/limits.hpp"
#include "core/node/config_reader.hpp"

namespace praetor::node {
namespace {

using config_detail::Field;
using config_detail::Json;
using config_detail::LoadState;
using config_detail::Reader;

// Deeper nesting than any real config; bounds the work of a hostile or broken file.
constexpr int kMaxJsonDepth = 64;

std::string to_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// --- generic field handlers ------------------------------------------------------------------
// Each records the source as the key's origin, so errors found after the merge can name it.

template <typename T, auto Member>
void set_value(Reader& r, const Json& v, const std::string& p, T& t) {
  if (r.read(v, p, t.*Member)) r.set_origin(p);
}

template <typename T, auto Member, std::int64_t Min, std::int64_t Max>
void set_int(Reader& r, const Json& v, const std::string& p, T& t) {
  if (r.read_int(v, p, t.*Member, Min, Max)) r.set_origin(p);
}

template <typename T, auto Member>
void append_list(Reader& r, const Json& v, const std::string& p, T& t) {
  if (r.append(v, p, t.*Member)) r.set_origin(p);
}

template <typename T, auto Member>
void merge_map(Reader& r, const Json& v, const std::string& p, T& t) {
  if (r.merge(v, p, t.*Member)) r.set_origin(p);
}

// -1 and 0 disable a listener, as in Consul (python-consul sets "dns": -1). Consul also takes
// any other negative number as "off"; we refuse them, since -http-port=-5 is far more likely a
// typo than a wish to run without an HTTP API.
template <auto Member>
void set_port(Reader& r, const Json& v, const std::string& p, Ports& t) {
  int port = 0;
  if (!r.read_int(v, p, port)) return;
  if (port < -1 || port > 65535) {
    r.fail(p, fmt::format("invalid port: {} (expected 1..65535, or -1 to disable the listener)",
                          port));
    return;
  }
  t.*Member = port <= 0 ? -1 : port;
  r.set_origin(p);
}

// Gossip and server RPC are not optional for an agent.
template <auto Member>
void set_required_port(Reader& r, const Json& v, const std::string& p, Ports& t) {
  int port = 0;
  if (!r.read_int(v, p, port)) return;
  if (port <= 0 || port > 65535) {
    r.fail(p, fmt::format("invalid port: {} (expected 1..65535; this listener cannot be disabled)",
                          port));
    return;
  }
  t.*Member = port;
  r.set_origin(p);
}

template <typename T>
void ignore(Reader&, const Json&, const std::string&, T&) {}

template <typename T>
void ignore_with_warning(Reader& r, const Json&, const std::string& p, T&) {
  r.warn(p, "accepted but not supported yet; ignored");
}

// TLS settings that ask for encryption or verification are refused rather than ignored:
// running in plaintext when the operator asked for TLS would fail open.
template <typename T>
void refuse_tls(Reader& r, const Json& v, const std::string& p, T&) {
  const bool asks = (v.is_boolean() && v.get<bool>()) ||
                    (v.is_string() && !v.get_ref<const std::string&>().empty()) ||
                    (v.is_object() && !v.empty());
  if (asks) r.fail(p, "TLS is not supported yet; remove the TLS settings to run without TLS");
}

// --- ports, addresses, dns_config, acl, performance, ui ----------------------------------------

constexpr Field<Ports> kPortFields[] = {
    {"dns", [](Reader& r, const Json& v, const std::string& p,
               Ports& t) { set_port<&Ports::dns>(r, v, p, t); }},
    {"http", set_port<&Ports::http>},
    {"https",
     [](Reader& r, const Json& v, const std::string& p, Ports& t) {
       set_port<&Ports::https>(r, v, p, t);
       if (r.ok() && t.https > 0) r.warn(p, "HTTPS is not supported yet; no HTTPS listener");
     }},
    {"serf_lan", set_required_port<&Ports::serf_lan>},
    {"serf_wan", set_port<&Ports::serf_wan>},
    {"server", set_required_port<&Ports::server>},
    {"grpc", set_port<&Ports::grpc>},
    {"grpc_tls", ignore<Ports>},
    {"proxy_min_port", ignore<Ports>},
    {"proxy_max_port", ignore<Ports>},
    {"sidecar_min_port", ignore<Ports>},
    {"sidecar_max_port", ignore<Ports>},
    {"expose_min_port", ignore<Ports>},
    {"expose_max_port", ignore<Ports>},
};

template <auto Member>
void set_listener_addresses(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  const auto list = config_detail::read_address_list(r, v, p, /*allow_unix=*/true);
  if (!r.ok()) return;
  std::string joined;
  for (const auto& a : list) joined += (joined.empty() ? "" : " ") + a;
  c.*Member = joined;
}

constexpr Field<AgentConfig> kAddressFields[] = {
    {"http", set_listener_addresses<&AgentConfig::addresses_http>},
    {"https", set_listener_addresses<&AgentConfig::addresses_https>},
    {"dns", set_listener_addresses<&AgentConfig::addresses_dns>},
    {"grpc", set_listener_addresses<&AgentConfig::addresses_grpc>},
    {"grpc_tls", ignore<AgentConfig>},
};

void read_service_ttl(Reader& r, const Json& v, const std::string& p, DnsConfig& d) {
  if (!r.is_object(v, p)) return;
  for (const auto& [name, value] : v.items()) {
    Duration ttl;
    // Service names are case-sensitive data, not config keys: no normalisation here.
    if (!r.read(value, fmt::format("{}[\"{}\"]", p, name), ttl)) return;
    d.service_ttl[name] = ttl;
  }
}

template <auto Member>
void set_u32(Reader& r, const Json& v, const std::string& p, DnsConfig& d) {
  std::int64_t n = 0;
  if (!r.read(v, p, n)) return;
  if (n < 0 || n > static_cast<std::int64_t>(UINT32_MAX)) {
    r.fail(p, fmt::format("expected a number between 0 and {}", UINT32_MAX));
    return;
  }
  d.*Member = static_cast<std::uint32_t>(n);
}

constexpr Field<DnsConfig> kSoaFields[] = {
    {"refresh", set_u32<&DnsConfig::soa_refresh>},
    {"retry", set_u32<&DnsConfig::soa_retry>},
    {"expire", set_u32<&DnsConfig::soa_expire>},
    {"min_ttl", set_u32<&DnsConfig::soa_min_ttl>},
};

constexpr Field<DnsConfig> kDnsFields[] = {
    {"allow_stale", set_value<DnsConfig, &DnsConfig::allow_stale>},
    {"max_stale", set_value<DnsConfig, &DnsConfig::max_stale>},
    {"node_ttl", set_value<DnsConfig, &DnsConfig::node_ttl>},
    {"service_ttl", read_service_ttl},
    {"only_passing", set_value<DnsConfig, &DnsConfig::only_passing>},
    {"enable_truncate", set_value<DnsConfig, &DnsConfig::enable_truncate>},
    {"udp_answer_limit", set_int<DnsConfig, &DnsConfig::udp_answer_limit, 0, INT32_MAX>},
    {"a_record_limit", set_int<DnsConfig, &DnsConfig::a_record_limit, 0, INT32_MAX>},
    {"recursor_timeout", set_value<DnsConfig, &DnsConfig::recursor_timeout>},
    {"disable_compression", set_value<DnsConfig, &DnsConfig::disable_compression>},
    {"enable_additional_node_meta_txt",
     set_value<DnsConfig, &DnsConfig::enable_additional_node_meta_txt>},
    {"soa", [](Reader& r, const Json& v, const std::string& p,
               DnsConfig& d) { config_detail::walk_object<DnsConfig>(r, v, p, kSoaFields, d); }},
    {"recursor_strategy", ignore_with_warning<DnsConfig>},
    {"use_cache", ignore<DnsConfig>},
    {"cache_max_age", ignore<DnsConfig>},
    {"prefer_namespace", ignore<DnsConfig>},
};

void set_acl_policy(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string policy;
  if (!r.read(v, p, policy)) return;
  if (policy != "allow" && policy != "deny") {
    r.fail(p, fmt::format("expected \"allow\" or \"deny\", got \"{}\"", policy));
    return;
  }
  c.acl_default_policy = policy;
}

constexpr Field<AgentConfig> kAclFields[] = {
    {"enabled",
     [](Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
       if (r.read(v, p, c.acl_enabled) && c.acl_enabled) {
         r.warn(p, "ACLs are not enforced yet: every request is allowed");
       }
     }},
    {"default_policy", set_acl_policy},
    {"down_policy", ignore<AgentConfig>},
    {"enable_token_persistence", ignore<AgentConfig>},
    {"enable_token_replication", ignore<AgentConfig>},
    {"enable_key_list_policy", ignore<AgentConfig>},
    {"policy_ttl", ignore<AgentConfig>},
    {"role_ttl", ignore<AgentConfig>},
    {"token_ttl", ignore<AgentConfig>},
    {"tokens", ignore<AgentConfig>},
};

constexpr Field<AgentConfig> kPerformanceFields[] = {
    {"raft_multiplier", set_int<AgentConfig, &AgentConfig::raft_multiplier, 1, 10>},
    {"leave_drain_time", ignore<AgentConfig>},
    {"rpc_hold_timeout", ignore<AgentConfig>},
};

// Timer periods: zero would fire the timer on every turn of the loop.
template <typename Out>
bool read_positive(Reader& r, const Json& v, const std::string& p, Out& out) {
  Duration d;
  if (!r.read(v, p, d)) return false;
  if (d.count_ns() == 0) {
    r.fail(p, "must be greater than zero");
    return false;
  }
  out = d;
  return true;
}

template <auto Member>
void set_positive_duration(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  if (read_positive(r, v, p, c.*Member)) r.set_origin(p);
}

template <auto Pool>
constexpr Field<AgentConfig> kGossipFields[] = {
    {"gossip_nodes",
     [](Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
       int n = 0;
       if (r.read_int(v, p, n, 1, 64)) (c.*Pool).gossip_nodes = n;
     }},
    {"gossip_interval", [](Reader& r, const Json& v, const std::string& p,
                           AgentConfig& c) { read_positive(r, v, p, (c.*Pool).gossip_interval); }},
    {"probe_interval", [](Reader& r, const Json& v, const std::string& p,
                          AgentConfig& c) { read_positive(r, v, p, (c.*Pool).probe_interval); }},
    {"probe_timeout", [](Reader& r, const Json& v, const std::string& p,
                         AgentConfig& c) { read_positive(r, v, p, (c.*Pool).probe_timeout); }},
    {"retransmit_mult",
     [](Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
       int n = 0;
       if (r.read_int(v, p, n, 1, 100)) (c.*Pool).retransmit_mult = n;
     }},
    {"suspicion_mult",
     [](Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
       int n = 0;
       if (r.read_int(v, p, n, 1, 100)) (c.*Pool).suspicion_mult = n;
     }},
};

// Consul treats these as ints; a cap of 0 or less would refuse every connection, so it is an
// error here rather than a silent lock-out.
constexpr Field<AgentConfig> kLimitsFields[] = {
    {"http_max_conns_per_client",
     set_int<AgentConfig, &AgentConfig::http_max_conns_per_client, 1, INT32_MAX>},
    {"rpc_max_conns_per_client",
     set_int<AgentConfig, &AgentConfig::rpc_max_conns_per_client, 1, INT32_MAX>},
    {"https_handshake_timeout", ignore_with_warning<AgentConfig>},
    {"rpc_handshake_timeout", ignore_with_warning<AgentConfig>},
    {"rpc_client_timeout", ignore_with_warning<AgentConfig>},
    {"rpc_rate", ignore_with_warning<AgentConfig>},
    {"rpc_max_burst", ignore_with_warning<AgentConfig>},
    {"kv_max_value_size", ignore_with_warning<AgentConfig>},
    {"txn_max_req_len", ignore_with_warning<AgentConfig>},
    {"request_limits", ignore_with_warning<AgentConfig>},
};

constexpr Field<AgentConfig> kUiFields[] = {
    {"enabled", set_value<AgentConfig, &AgentConfig::ui_enabled>},
    {"dir", ignore_with_warning<AgentConfig>},
    {"content_path", ignore_with_warning<AgentConfig>},
    {"metrics_provider", ignore<AgentConfig>},
    {"metrics_proxy", ignore<AgentConfig>},
    {"dashboard_url_templates", ignore<AgentConfig>},
};

template <const auto& Fields>
void nested(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  config_detail::walk_object<AgentConfig>(r, v, p, Fields, c);
}

void nested_ports(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  config_detail::walk_object<Ports>(r, v, p, kPortFields, c.ports);
}

void nested_dns(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  config_detail::walk_object<DnsConfig>(r, v, p, kDnsFields, c.dns_config);
}

// --- scalar keys with their own checks ---------------------------------------------------------

bool valid_datacenter(const std::string& dc) {
  return !dc.empty() && std::all_of(dc.begin(), dc.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

template <auto Member>
void set_datacenter(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string dc;
  if (!r.read(v, p, dc)) return;
  dc = to_lower(dc);  // Consul lower-cases datacenter names before checking them
  if (!valid_datacenter(dc)) {
    r.fail(p,
           "Invalid datacenter name. Only alphanumeric characters, underscores and dashes "
           "are allowed.");
    return;
  }
  c.*Member = dc;
  r.set_origin(p);
}

void set_node_name(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string name;
  if (!r.read(v, p, name)) return;
  // Trim like Consul's builder (strings.TrimSpace).
  const auto first = name.find_first_not_of(" \t\r\n");
  const auto last = name.find_last_not_of(" \t\r\n");
  c.node_name = first == std::string::npos ? "" : name.substr(first, last - first + 1);
  r.set_origin("node_name");
}

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (ch != '-') return false;
    } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                 (ch >= 'A' && ch <= 'F'))) {
      return false;
    }
  }
  return true;
}

void set_node_id(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string id;
  if (!r.read(v, p, id)) return;
  if (!id.empty() && !is_uuid(id)) {
    r.fail(p, fmt::format("invalid node ID \"{}\": expected a UUID such as "
                          "\"adf4238a-882b-9ddc-4a9d-5b6758e4159e\"",
                          id));
    return;
  }
  c.node_id = to_lower(id);
}

void set_log_level(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string text;
  if (!r.read(v, p, text)) return;
  const auto level = parse_log_level(text);
  if (!level) {
    r.fail(p, fmt::format("invalid log level \"{}\" (expected trace, debug, info, warn or err)",
                          text));
    return;
  }
  c.log_level = *level;
}

template <auto Member>
void set_domain(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string d;
  if (!r.read(v, p, d)) return;
  d = to_lower(d);
  if (d.empty() && Member == &AgentConfig::domain) {
    r.fail(p, "expected a domain name such as \"consul\"");
    return;
  }
  if (!d.empty() && d.back() != '.') d.push_back('.');
  c.*Member = d;
  r.set_origin(p);
}

void set_encrypt(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string key;
  if (!r.read(v, p, key)) return;
  Bytes raw;
  if (!key.empty() &&
      (!base64_decode(key, raw) || (raw.size() != 16 && raw.size() != 24 && raw.size() != 32))) {
    r.fail(p, "invalid key: expected the base64 of 16, 24 or 32 bytes (see `praetor keygen`)");
    return;
  }
  c.encrypt = key;
}

void set_bootstrap_expect(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  int n = 0;
  if (!r.read_int(v, p, n)) return;
  if (n < 0) {
    // Consul's wording.
    r.fail(p,
           fmt::format("bootstrap_expect cannot be {}. Must be greater than or equal to zero", n));
    return;
  }
  c.bootstrap_expect = n;
  r.set_origin(p);
}

void set_reconnect_timeout(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  Duration d;
  if (!r.read(v, p, d)) return;
  if (d < Duration::hours(8)) {
    r.fail(p, "must be >= 8h0m0s");
    return;
  }
  c.reconnect_timeout = d;
}

template <auto Member>
void set_ip(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string ip = config_detail::read_ip(r, v, p);
  if (!r.ok()) return;
  c.*Member = std::move(ip);
  r.set_origin(p);
}

template <auto Member>
void set_advertise(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::string ip = config_detail::read_ip(r, v, p);
  if (!r.ok()) return;
  if (config_detail::is_any_address(ip)) {
    r.fail(p, "Advertise address cannot be 0.0.0.0, :: or [::]");
    return;
  }
  c.*Member = std::move(ip);
}

void set_client_addr(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  auto list = config_detail::read_address_list(r, v, p, /*allow_unix=*/true);
  if (!r.ok()) return;
  c.client_addr = std::move(list);
}

void set_recursors(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  std::vector<std::string> list;
  if (!r.append(v, p, list)) return;
  for (const auto& entry : list) {
    if (entry.find("{{") != std::string::npos) {
      r.fail(p, fmt::format("go-sockaddr templates such as \"{}\" are not supported", entry));
      return;
    }
  }
  c.recursors.insert(c.recursors.end(), list.begin(), list.end());
}

void set_services(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  config_detail::read_service_list(r, v, p, c.services);
}

void set_checks(Reader& r, const Json& v, const std::string& p, AgentConfig& c) {
  config_detail::read_check_list(r, v, p, c.checks);
}

using A = AgentConfig;

constexpr Field<AgentConfig> kAgentFields[] = {
    // Identity.
    {"node_name", set_node_name},
    {"node", set_node_name},  // the seed's spelling; Consul only documents node_name
    {"node_id", set_node_id},
    {"node_meta", merge_map<A, &A::node_meta>},
    {"datacenter", set_datacenter<&A::datacenter>},
    {"primary_datacenter", set_datacenter<&A::primary_datacenter>},
    {"data_dir", set_value<A, &A::data_dir>},
    // Role.
    {"server", set_value<A, &A::server>},
    {"bootstrap", set_value<A, &A::bootstrap>},
    {"bootstrap_expect", set_bootstrap_expect},
    // Addresses.
    {"bind_addr", set_ip<&A::bind_addr>},
    {"advertise_addr", set_advertise<&A::advertise_addr>},
    {"advertise_addr_wan", set_advertise<&A::advertise_addr_wan>},
    {"client_addr", set_client_addr},
    {"addresses", nested<kAddressFields>},
    {"ports", nested_ports},
    // Joining.
    {"start_join", append_list<A, &A::start_join>},
    {"retry_join", append_list<A, &A::retry_join>},
    {"start_join_wan", append_list<A, &A::start_join_wan>},
    {"retry_join_wan", append_list<A, &A::retry_join_wan>},
    {"retry_interval", set_positive_duration<&A::retry_interval>},
    {"retry_interval_wan", set_positive_duration<&A::retry_interval_wan>},
    {"retry_max", set_int<A, &A::retry_max, 0, INT32_MAX>},
    {"retry_max_wan", set_int<A, &A::retry_max_wan, 0, INT32_MAX>},
    {"rejoin_after_leave", set_value<A, &A::rejoin_after_leave>},
    {"gossip_lan", nested<kGossipFields<&A::gossip_lan>>},
    {"gossip_wan", nested<kGossipFields<&A::gossip_wan>>},
    {"leave_on_terminate", set_value<A, &A::leave_on_terminate>},
    {"skip_leave_on_interrupt", set_value<A, &A::skip_leave_on_interrupt>},
    // Logging and process.
    {"log_level", set_log_level},
    {"log_file", set_value<A, &A::log_file>},
    {"log_json", set_value<A, &A::log_json>},
    {"pid_file", set_value<A, &A::pid_file>},
    // DNS.
    {"domain", set_domain<&A::domain>},
    {"alt_domain", set_domain<&A::alt_domain>},
    {"recursors", set_recursors},
    {"dns_config", nested_dns},
    // Checks and services.
    {"enable_script_checks", set_value<A, &A::enable_script_checks>},
    {"enable_local_script_checks", set_value<A, &A::enable_local_script_checks>},
    {"services", set_services},
    {"service", set_services},
    {"checks", set_checks},
    {"check", set_checks},
    {"check_update_interval", set_value<A, &A::check_update_interval>},
    // Sessions, ACL, performance, UI, gossip key.
    {"session_ttl_min", set_value<A, &A::session_ttl_min>},
    {"acl", nested<kAclFields>},
    {"acl_default_policy", set_acl_policy},
    {"performance", nested<kPerformanceFields>},
    {"limits", nested<kLimitsFields>},
    {"ui", set_value<A, &A::ui_enabled>},
    {"ui_config", nested<kUiFields>},
    {"reconnect_timeout", set_reconnect_timeout},
    {"encrypt", set_encrypt},
    // TLS: refused when it asks for anything (see refuse_tls).
    {"tls", refuse_tls<A>},
    {"verify_incoming", refuse_tls<A>},
    {"verify_incoming_rpc", refuse_tls<A>},
    {"verify_incoming_https", refuse_tls<A>},
    {"verify_outgoing", refuse_tls<A>},
    {"verify_server_hostname", refuse_tls<A>},
    {"ca_file", refuse_tls<A>},
    {"ca_path", refuse_tls<A>},
    {"cert_file", refuse_tls<A>},
    {"key_file", refuse_tls<A>},
    {"auto_encrypt", refuse_tls<A>},
    // Known Consul features that praetor does not have yet: accepted with a warning.
    {"watches", ignore_with_warning<A>},
    {"telemetry", ignore_with_warning<A>},
    {"autopilot", ignore_with_warning<A>},
    {"connect", ignore_with_warning<A>},
    {"acl_datacenter", ignore_with_warning<A>},
    {"acl_master_token", ignore_with_warning<A>},
    {"acl_token", ignore_with_warning<A>},
    {"acl_agent_token", ignore_with_warning<A>},
    {"acl_agent_master_token", ignore_with_warning<A>},
    {"reconnect_timeout_wan", ignore_with_warning<A>},
};

// Accepted silently: settings with no observable effect in praetor.
constexpr std::array<const char*, 12> kAgentIgnored = {"disable_update_check",
                                                       "disable_host_node_id",
                                                       "disable_remote_exec",
                                                       "raft_protocol",
                                                       "enable_debug",
                                                       "translate_wan_addrs",
                                                       "encrypt_verify_incoming",
                                                       "encrypt_verify_outgoing",
                                                       "disable_anonymous_signature",
                                                       "leave_drain_time",
                                                       "server_name",
                                                       "log_rotate_max_files"};

// --- parsing and whole-config checks -----------------------------------------------------------

Result<Json> parse_source(const ConfigSource& source) {
  if (source.text.size() > limits::kConfigMaxFileBytes) {
    return make_error(ErrorCode::kTooLarge, fmt::format("{}: file is larger than {} bytes",
                                                        source.name, limits::kConfigMaxFileBytes));
  }
  bool too_deep = false;
  const Json::parser_callback_t depth_guard = [&too_deep](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;  // discard everything once too deep; we fail below anyway
  };
  Json parsed;
  // nlohmann reports syntax errors by exception; this is the decode boundary where we catch.
  try {
    parsed = Json::parse(source.text, depth_guard, /*allow_exceptions=*/true,
                         /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep "parse error at line L...".
    if (const auto close = what.find("] ");
        what.starts_with("[json.") && close != std::string::npos) {
      what = what.substr(close + 2);
    }
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: invalid JSON: {}", source.name, what));
  }
  if (too_deep) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: invalid JSON: nested deeper than {} levels", source.name, kMaxJsonDepth));
  }
  return parsed;
}

bool blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; });
}

// Names the source of the first of keys that some source set. Errors about a combination of
// keys name whichever key a file actually wrote (the other may come from -dev defaults).
Error whole_config_error(const LoadState& s, std::initializer_list<const char*> keys,
                         std::string_view what) {
  for (const char* key : keys) {
    if (const auto it = s.origin.find(key); it != s.origin.end()) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", it->second, what));
    }
  }
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("defaults: {}: {}", *keys.begin(), what));
}

Result<void> check_role(const AgentConfig& c, const LoadState& s) {
  // Consul's wording, prefixed with the source and key. (A negative bootstrap_expect is refused
  // where it is read.)
  if (c.bootstrap_expect > 0 && c.dev) {
    return whole_config_error(s, {"bootstrap_expect"},
                              "'bootstrap_expect > 0' not allowed in dev mode");
  }
  if (c.bootstrap_expect > 0 && c.bootstrap) {
    return whole_config_error(s, {"bootstrap_expect", "bootstrap"},
                              "'bootstrap_expect > 0' and 'bootstrap = true' are mutually "
                              "exclusive");
  }
  if (c.bootstrap_expect > 0 && !c.server) {
    return whole_config_error(s, {"bootstrap_expect", "server"},
                              "'bootstrap_expect > 0' requires 'server = true'");
  }
  if (c.bootstrap && !c.server) {
    return whole_config_error(s, {"bootstrap", "server"},
                              "'bootstrap = true' requires 'server = true'");
  }
  return ok();
}

bool dns_safe_label(const std::string& name) {
  return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-';
  });
}

void add_advisories(const AgentConfig& c, LoadState& s) {
  if (c.bootstrap_expect == 1) {
    s.warnings.push_back("bootstrap_expect = 1: this is the same as bootstrap mode");
  } else if (c.bootstrap_expect == 2) {
    s.warnings.push_back(
        "bootstrap_expect = 2: a cluster with 2 servers provides no failure "
        "tolerance");
  } else if (c.bootstrap_expect > 2 && c.bootstrap_expect % 2 == 0) {
    s.warnings.push_back(
        fmt::format("bootstrap_expect is even ({}): an odd number of servers "
                    "tolerates the same failures with one server fewer",
                    c.bootstrap_expect));
  }
  if (!dns_safe_label(c.node_name)) {
    s.warnings.push_back(
        fmt::format("node name \"{}\" will not be discoverable via DNS due to "
                    "invalid characters; valid characters are letters, digits "
                    "and dashes",
                    c.node_name));
  }
  const std::string exposed = unprotected_api_warning(c);
  if (c.enable_script_checks && !exposed.empty()) {
    // Remote code execution for anyone who can reach the API: say so as loudly as a log can.
    s.warnings.push_back(fmt::format(
        "SECURITY WARNING: enable_script_checks = true and the HTTP API listens on {}: anyone "
        "who can reach it can run any command on this host as this agent's user "
        "(PUT /v1/agent/check/register with Args); use enable_local_script_checks, or bind "
        "the API to loopback",
        fmt::join(http_listen_addresses(c), ", ")));
  } else if (c.enable_script_checks) {
    s.warnings.push_back(
        "enable_script_checks = true: any client of the HTTP API can run "
        "commands on this host; prefer enable_local_script_checks");
  }
  if (!exposed.empty()) s.warnings.push_back(exposed);
}

Result<void> check_whole(AgentConfig& c, LoadState& s, const LoadOptions& options) {
  PRAETOR_TRY_VOID(check_role(c, s));
  if (!c.dev && options.require_data_dir && c.data_dir.empty()) {
    if (s.origin.contains("data_dir"))
      return whole_config_error(s, {"data_dir"}, "cannot be empty");
    return make_error(ErrorCode::kInvalidArgument, "data_dir cannot be empty");
  }
  if (c.node_name.empty()) {
    return s.origin.contains("node_name")
               ? whole_config_error(s, {"node_name"}, "cannot be empty")
               : make_error(ErrorCode::kInvalidArgument, "node_name cannot be empty");
  }
  if (!c.alt_domain.empty() && c.alt_domain == c.domain) {
    return whole_config_error(s, {"alt_domain"}, "cannot be the same as domain");
  }
  if (!c.enable_script_checks && !c.enable_local_script_checks && !s.script_checks.empty()) {
    const auto& first = s.script_checks.front();
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: {}: Scripts are disabled on this agent; to enable, "
                                  "configure 'enable_script_checks' or "
                                  "'enable_local_script_checks' to true",
                                  first.file, first.path));
  }
  add_advisories(c, s);
  return ok();
}

}  // namespace

int served_dns_port(const AgentConfig& config) { return config.ports.dns; }

std::vector<std::string> http_listen_addresses(const AgentConfig& config) {
  if (config.ports.http <= 0) return {};
  std::vector<std::string> out;
  auto add_words = [&out](std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && text[i] == ' ') ++i;
      std::size_t j = i;
      while (j < text.size() && text[j] != ' ') ++j;
      if (j > i) out.emplace_back(text.substr(i, j - i));
      i = j;
    }
  };
  if (!config.addresses_http.empty()) {
    add_words(config.addresses_http);
  } else {
    for (const auto& entry : config.client_addr) add_words(entry);
  }
  return out;
}

std::string unprotected_api_warning(const AgentConfig& config) {
  std::string exposed;
  for (const auto& address : http_listen_addresses(config)) {
    if (address.starts_with("unix://") || config_detail::is_loopback_address(address)) continue;
    exposed += fmt::format("{}{}", exposed.empty() ? "" : ", ", address);
  }
  if (exposed.empty()) return "";
  return fmt::format(
      "the HTTP API listens on {} (port {}), beyond loopback, and praetor has no ACLs: anyone "
      "who can reach it can read and change every key, service, check and session, and make "
      "this agent leave the cluster{}. Bind client_addr to 127.0.0.1 or firewall the port.",
      exposed, config.ports.http,
      config.enable_script_checks ? ", and run commands on this host (enable_script_checks)" : "");
}

AgentConfig dev_defaults() {
  AgentConfig c;
  c.dev = true;
  c.node_name = "praetor-dev";  // the CLI puts the host name in front; core cannot ask for it
  c.server = true;
  c.bootstrap = true;
  c.bind_addr = "127.0.0.1";
  c.client_addr = {"127.0.0.1"};
  c.ui_enabled = true;
  c.log_level = LogLevel::kDebug;
  c.raft_multiplier = 1;
  c.ports.grpc = 8502;
  return c;
}

Result<AgentConfig> load_config(const std::vector<ConfigSource>& sources, bool dev) {
  return load_config(sources, LoadOptions{.dev = dev});
}

Result<AgentConfig> load_config(const std::vector<ConfigSource>& sources,
                                const LoadOptions& options) {
  AgentConfig config = options.dev ? dev_defaults() : AgentConfig{};
  LoadState state;
  for (const auto& source : sources) {
    if (blank(source.text)) continue;  // Consul skips empty sources (ErrNoData)
    auto parsed = parse_source(source);
    if (!parsed) return parsed.error();
    Reader reader(source.name, state, &source.key_names);
    config_detail::walk_object<AgentConfig>(reader, *parsed, "", kAgentFields, config,
                                            kAgentIgnored);
    if (!reader.ok()) return reader.error();
  }
  PRAETOR_TRY_VOID(check_whole(config, state, options));
  config.warnings = std::move(state.warnings);
  return config;
}

}  // namespace praetor::node
