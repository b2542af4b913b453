// The agent's configuration: Consul's config model (consul-compat.md §1). Loading is pure: the
// caller reads files (io/, cmd/) and passes their names and texts here; errors name the source,
// the key and what was expected. Merge rules: sources in order, later scalars win, lists
// concatenate, maps merge key-wise, command-line flags last.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/instant.hpp"
#include "core/base/limits.hpp"
#include "core/base/log.hpp"
#include "core/base/result.hpp"

namespace praetor::node {

struct CheckDefinition {
  std::string id;
  std::string name;
  std::string notes;
  std::string service_id;
  std::string status;                 // initial status; "" = critical
  std::vector<std::string> args;      // script check ("script" becomes {"/bin/sh","-c",script})
  std::string http;
  std::string method;
  std::map<std::string, std::vector<std::string>> header;
  std::string body;
  bool tls_skip_verify = false;
  std::string tcp;
  std::optional<Duration> ttl;
  std::optional<Duration> interval;
  std::optional<Duration> timeout;
  std::optional<Duration> deregister_critical_service_after;
  int success_before_passing = 0;
  int failures_before_warning = 0;
  int failures_before_critical = 0;
  std::size_t output_max_size = 4096;
};

struct ServiceWeights {
  int passing = 1;
  int warning = 1;
};

struct ServiceDefinition {
  std::string id;  // defaults to name
  std::string name;
  std::vector<std::string> tags;
  std::string address;
  int port = 0;
  std::map<std::string, std::string> meta;
  bool enable_tag_override = false;
  ServiceWeights weights;
  std::vector<CheckDefinition> checks;  // "check" and "checks" both land here
};

struct Ports {
  int dns = 8600;
  int http = 8500;
  int https = -1;
  int serf_lan = 8301;
  int serf_wan = 8302;
  int server = 8300;
  int grpc = -1;
};

struct DnsConfig {
  bool allow_stale = true;
  Duration max_stale = Duration::hours(87600);
  Duration node_ttl = Duration::zero();
  std::map<std::string, Duration> service_ttl;
  bool only_passing = false;
  bool enable_truncate = false;
  int udp_answer_limit = 3;
  int a_record_limit = 0;
  Duration recursor_timeout = Duration::seconds(2);
  bool disable_compression = false;
  bool enable_additional_node_meta_txt = true;
  std::uint32_t soa_refresh = 3600;
  std::uint32_t soa_retry = 600;
  std::uint32_t soa_expire = 86400;
  std::uint32_t soa_min_ttl = 0;
};

// Consul's gossip_lan / gossip_wan blocks: memberlist timers. Unset fields keep the LAN or WAN
// preset (core/gossip/config.hpp).
struct GossipTuning {
  std::optional<int> gossip_nodes;
  std::optional<Duration> gossip_interval;
  std::optional<Duration> probe_interval;
  std::optional<Duration> probe_timeout;
  std::optional<int> retransmit_mult;
  std::optional<int> suspicion_mult;
};

struct AgentConfig {
  // Identity.
  std::string node_name;           // "node_name" or the seed's "node"; -node
  std::string node_id;             // UUID; generated and persisted in data_dir when empty
  std::map<std::string, std::string> node_meta;
  std::string datacenter = "dc1";
  std::string primary_datacenter;
  std::string data_dir;

  // Role.
  bool dev = false;
  bool server = false;
  bool bootstrap = false;
  int bootstrap_expect = 0;

  // Addresses.
  std::string bind_addr = "0.0.0.0";
  std::string advertise_addr;
  std::string advertise_addr_wan;
  std::vector<std::string> client_addr = {"127.0.0.1"};  // space-separated list allowed
  std::string addresses_http, addresses_dns;              // per-listener overrides
  std::string addresses_https, addresses_grpc;            // (space-separated lists allowed)
  Ports ports;

  // Joining.
  std::vector<std::string> start_join, retry_join, start_join_wan, retry_join_wan;
  Duration retry_interval = Duration::seconds(30);
  Duration retry_interval_wan = Duration::seconds(30);
  int retry_max = 0;
  int retry_max_wan = 0;
  bool rejoin_after_leave = false;
  GossipTuning gossip_lan, gossip_wan;
  std::optional<bool> leave_on_terminate;      // default: true for clients, false for servers
  std::optional<bool> skip_leave_on_interrupt; // default: true for servers, false for clients

  // Logging and process.
  LogLevel log_level = LogLevel::kInfo;
  std::string log_file;
  bool log_json = false;
  std::string pid_file;

  // DNS.
  std::string domain = "consul.";
  std::string alt_domain;
  std::vector<std::string> recursors;
  DnsConfig dns_config;

  // Checks and services.
  bool enable_script_checks = false;
  bool enable_local_script_checks = false;
  std::vector<ServiceDefinition> services;
  std::vector<CheckDefinition> checks;
  Duration check_update_interval = Duration::minutes(5);

  // Sessions, ACL (accepted; ACLs are not enforced yet), performance, UI.
  Duration session_ttl_min = Duration::seconds(10);
  bool acl_enabled = false;
  std::string acl_default_policy = "allow";
  int raft_multiplier = 5;
  // Run every core's check_invariants() after each input (tests and the simulator; too costly
  // for production, where the catalog check walks every key). Not a configuration-file key.
  bool check_invariants_each_input = false;
  // Committed entries between Raft snapshots (Consul's raft_snapshot_threshold).
  std::uint64_t raft_snapshot_threshold = 16384;
  bool ui_enabled = false;
  Duration reconnect_timeout = Duration::hours(72);
  std::string encrypt;

  // Consul's `limits` block: open connections from one source IP to the HTTP API, and to the
  // server RPC port (loopback included).
  int http_max_conns_per_client = static_cast<int>(limits::kHttpMaxConnsPerClient);
  int rpc_max_conns_per_client = static_cast<int>(limits::kRpcMaxConnsPerClient);

  // Non-fatal findings of load_config (unknown keys, accepted-but-ignored settings, risky values).
  // Consul rejects unknown keys; we warn so a config written for a newer Consul still starts.
  std::vector<std::string> warnings;

  bool leave_on_terminate_effective() const {
    return leave_on_terminate.value_or(!server);
  }
  bool skip_leave_on_interrupt_effective() const {
    return skip_leave_on_interrupt.value_or(server);
  }
};

// One configuration source: a file's path (for error messages) and its text.
struct ConfigSource {
  std::string name;  // "/etc/praetor.d/server.json" or "command line"
  std::string text;
  // How messages name a key path of this source ("ports.http" -> "-http-port"): the command line
  // names the flag the operator typed, not the key the flag became. Paths not listed keep their
  // own name.
  std::map<std::string, std::string> key_names = {};
};

// Parses and merges JSON sources in order on top of the defaults (or of the -dev defaults when
// dev is set), then validates the result. Flags are a source too: the CLI turns them into a JSON
// object named "command line" that goes last.
Result<AgentConfig> load_config(const std::vector<ConfigSource>& sources, bool dev);

struct LoadOptions {
  bool dev = false;
  // `praetor validate` checks files that may be meant for another host, so, like Consul's
  // validate command, it does not insist on data_dir.
  bool require_data_dir = true;
};
Result<AgentConfig> load_config(const std::vector<ConfigSource>& sources,
                                const LoadOptions& options);

// The DNS port served: ports.dns (-1 and 0 disable the DNS listeners).
int served_dns_port(const AgentConfig& config);

// The addresses the HTTP API listens on (addresses.http, else client_addr); empty when
// ports.http disables it.
std::vector<std::string> http_listen_addresses(const AgentConfig& config);

// Praetor has no ACLs yet, so an HTTP API reachable from other hosts lets anyone read and change
// everything. Says so, naming the exposed addresses; empty when the API listens only on loopback
// addresses or unix sockets (or not at all).
std::string unprotected_api_warning(const AgentConfig& config);

// The -dev defaults (consul-compat.md §1): in-memory server that bootstraps itself, bind and
// client 127.0.0.1, UI on, log level DEBUG.
AgentConfig dev_defaults();

}  // namespace praetor::node
