// `praetor agent` and `praetor validate`: turn flags and config files into the sources that
// node::load_config merges (files in command-line order, flags last as "command line").
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cmd/praetor/commands.hpp"
#include "cmd/praetor/config_files.hpp"
#include "core/node/config.hpp"

#ifdef PRAETOR_HAVE_AGENT_RUNNER
#include "cmd/praetor/agent_runner.hpp"
#endif

namespace praetor::cmd {
namespace {

using Json = nlohmann::json;

enum class FlagKind { kString, kInt, kBool, kList, kMetaPair };

// Agent flags that are plain config keys; each lands at `path` in the "command line" source.
struct ConfigFlag {
  const char* name;
  FlagKind kind;
  std::vector<const char*> path;
  const char* usage;
};

const std::vector<ConfigFlag>& config_flags() {
  static const std::vector<ConfigFlag> kFlags = {
      {"server", FlagKind::kBool, {"server"}, "Switches the agent to server mode."},
      {"bootstrap", FlagKind::kBool, {"bootstrap"}, "Sets server to bootstrap mode."},
      {"bootstrap-expect",
       FlagKind::kInt,
       {"bootstrap_expect"},
       "Sets server to expect bootstrap mode with this many servers."},
      {"node",
       FlagKind::kString,
       {"node_name"},
       "Name of this node. Must be unique in the cluster."},
      {"node-id", FlagKind::kString, {"node_id"}, "A unique ID for this node (a UUID)."},
      {"node-meta",
       FlagKind::kMetaPair,
       {"node_meta"},
       "An arbitrary metadata key/value pair for this node, of the format `key:value`. Can be "
       "specified multiple times."},
      {"datacenter", FlagKind::kString, {"datacenter"}, "Datacenter of the agent."},
      {"dc", FlagKind::kString, {"datacenter"}, "(deprecated) Use -datacenter."},
      {"data-dir",
       FlagKind::kString,
       {"data_dir"},
       "Path to a data directory to store agent state."},
      {"bind",
       FlagKind::kString,
       {"bind_addr"},
       "Sets the bind address for cluster communication."},
      {"client",
       FlagKind::kString,
       {"client_addr"},
       "Sets the address to bind for client access (HTTP, DNS). Space-separated list allowed."},
      {"advertise", FlagKind::kString, {"advertise_addr"}, "Sets the advertise address to use."},
      {"advertise-wan",
       FlagKind::kString,
       {"advertise_addr_wan"},
       "Sets address to advertise on WAN instead of -advertise address."},
      {"join", FlagKind::kList, {"start_join"}, "Address of an agent to join at start time."},
      {"retry-join", FlagKind::kList, {"retry_join"}, "Address of an agent to join, retried."},
      {"retry-interval",
       FlagKind::kString,
       {"retry_interval"},
       "Time to wait between join attempts."},
      {"retry-max",
       FlagKind::kInt,
       {"retry_max"},
       "Maximum number of join attempts (0 = forever)."},
      {"join-wan",
       FlagKind::kList,
       {"start_join_wan"},
       "Address of a server to join over the WAN."},
      {"retry-join-wan",
       FlagKind::kList,
       {"retry_join_wan"},
       "Address of a server to join over the WAN, retried."},
      {"retry-interval-wan",
       FlagKind::kString,
       {"retry_interval_wan"},
       "Time to wait between WAN join attempts."},
      {"retry-max-wan", FlagKind::kInt, {"retry_max_wan"}, "Maximum number of WAN join attempts."},
      {"http-port", FlagKind::kInt, {"ports", "http"}, "Sets the HTTP API port to listen on."},
      {"https-port", FlagKind::kInt, {"ports", "https"}, "Sets the HTTPS API port to listen on."},
      {"dns-port", FlagKind::kInt, {"ports", "dns"}, "DNS port to use."},
      {"grpc-port", FlagKind::kInt, {"ports", "grpc"}, "Sets the gRPC API port to listen on."},
      {"server-port", FlagKind::kInt, {"ports", "server"}, "Sets the server RPC port."},
      {"serf-lan-port", FlagKind::kInt, {"ports", "serf_lan"}, "Sets the Serf LAN port."},
      {"serf-wan-port", FlagKind::kInt, {"ports", "serf_wan"}, "Sets the Serf WAN port."},
      {"log-level", FlagKind::kString, {"log_level"}, "Log level of the agent."},
      {"log-file", FlagKind::kString, {"log_file"}, "Path to the file logs get written to."},
      {"log-json", FlagKind::kBool, {"log_json"}, "Output logs in JSON format."},
      {"pid-file", FlagKind::kString, {"pid_file"}, "Path to file to store agent PID."},
      {"encrypt", FlagKind::kString, {"encrypt"}, "Provides the gossip encryption key."},
      {"recursor",
       FlagKind::kList,
       {"recursors"},
       "Address of an upstream DNS server. Can be specified multiple times."},
      {"domain", FlagKind::kString, {"domain"}, "Domain to use for DNS interface."},
      {"alt-domain", FlagKind::kString, {"alt_domain"}, "Alternate domain for DNS interface."},
      {"enable-script-checks",
       FlagKind::kBool,
       {"enable_script_checks"},
       "Enables health check scripts (also from the HTTP API: a remote-execution risk)."},
      {"enable-local-script-checks",
       FlagKind::kBool,
       {"enable_local_script_checks"},
       "Enables health check scripts from configuration files only."},
      {"rejoin",
       FlagKind::kBool,
       {"rejoin_after_leave"},
       "Ignores a previous leave and attempts to rejoin the cluster."},
      {"ui",
       FlagKind::kBool,
       {"ui_config", "enabled"},
       "Enables the built-in static web UI server."},
      {"disable-host-node-id",
       FlagKind::kBool,
       {"disable_host_node_id"},
       "Accepted for compatibility; praetor never derives the node ID from the host."},
  };
  return kFlags;
}

Json& at_path(Json& root, const std::vector<const char*>& path) {
  Json* node = &root;
  for (const char* key : path) node = &(*node)[key];
  return *node;
}

std::optional<std::string> apply_flag(const ConfigFlag& flag, const std::string& value, Json& out) {
  Json& slot = at_path(out, flag.path);
  switch (flag.kind) {
    case FlagKind::kString:
      slot = value;
      return std::nullopt;
    case FlagKind::kList:
      slot.push_back(value);
      return std::nullopt;
    case FlagKind::kBool: {
      const auto b = parse_go_bool(value);
      if (!b) return "parse error";
      slot = *b;
      return std::nullopt;
    }
    case FlagKind::kInt: {
      char* end = nullptr;
      errno = 0;
      const long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno != 0 || n < INT_MIN || n > INT_MAX) {
        return "parse error";
      }
      slot = n;
      return std::nullopt;
    }
    case FlagKind::kMetaPair: {
      const auto colon = value.find(':');
      if (colon == std::string::npos) return "expected key:value";
      slot[value.substr(0, colon)] = value.substr(colon + 1);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// Everything `agent` and `validate` need to (re)build the configuration.
struct AgentInvocation {
  bool dev = false;
  std::vector<ConfigPath> paths;
  std::string config_format;
  std::vector<std::string> hcl;
  Json command_line = Json::object();
  // Key path -> the flag that set it last ("ports.http" -> "-http-port"), so that an error in a
  // flag's value names the flag.
  std::map<std::string, std::string> flag_names;
};

void add_config_flags(FlagSet& flags, AgentInvocation& inv) {
  flags.add_bool("dev", &inv.dev, "Starts the agent in development mode.");
  flags.add("config-file", "Path to a JSON file to read configuration from. Can be repeated.",
            [&inv](const std::string& v) -> std::optional<std::string> {
              inv.paths.push_back({v});
              return std::nullopt;
            });
  flags.add("config-dir",
            "Path to a directory to read configuration files from (*.json, in lexical order). "
            "Can be repeated.",
            [&inv](const std::string& v) -> std::optional<std::string> {
              inv.paths.push_back({v});
              return std::nullopt;
            });
  flags.add_string("config-format", &inv.config_format,
                   "Config files are in this format irrespective of their extension (json).");
  flags.add_strings("hcl", &inv.hcl, "HCL configuration fragment (not supported yet).");
  for (const auto& f : config_flags()) {
    flags.add(
        f.name, f.usage,
        [&f, &inv](const std::string& v) {
          std::string key;
          for (const char* part : f.path) key += (key.empty() ? "" : ".") + std::string(part);
          inv.flag_names[key] = fmt::format("-{}", f.name);
          return apply_flag(f, v, inv.command_line);
        },
        f.kind == FlagKind::kBool);
  }
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

// Loads the configuration the way the agent does. Sources: the host name as the default node
// name (core may not ask the OS), then files, then flags.
Result<node::AgentConfig> build_config(const AgentInvocation& inv, bool require_data_dir,
                                       std::vector<std::string>* file_warnings) {
  if (!inv.hcl.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "-hcl: HCL is not supported yet; use a JSON -config-file");
  }
  auto files = read_config_paths(inv.paths, inv.config_format);
  if (!files) return files.error();
  std::vector<node::ConfigSource> sources;
  if (const auto host = host_name(); !host.empty()) {
    // A host name is bytes from the OS: never let one that is not UTF-8 throw here.
    const Json defaults{{"node_name", host}};
    sources.push_back({"defaults", defaults.dump(-1, ' ', false, Json::error_handler_t::replace)});
  }
  for (auto& s : files->sources) sources.push_back(std::move(s));
  if (!inv.command_line.empty()) {
    sources.push_back({"command line",
                       inv.command_line.dump(-1, ' ', false, Json::error_handler_t::replace),
                       inv.flag_names});
  }
  if (file_warnings != nullptr) *file_warnings = files->warnings;
  return node::load_config(sources,
                           node::LoadOptions{.dev = inv.dev, .require_data_dir = require_data_dir});
}

void print_warnings(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& w : a) fmt::print(stderr, "==> WARNING: {}\n", w);
  for (const auto& w : b) fmt::print(stderr, "==> WARNING: {}\n", w);
}

constexpr std::string_view kAgentSynopsis = "praetor agent [options]";
constexpr std::string_view kValidateSynopsis = "praetor validate [options] FILE_OR_DIRECTORY...";

}  // namespace

int run_agent_command(Args args) {
  AgentInvocation inv;
  FlagSet flags("agent");
  add_config_flags(flags, inv);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kAgentSynopsis, flags);
  if (!rest->empty()) {
    fmt::print(stderr, "Unexpected extra arguments: {}\n", fmt::join(*rest, " "));
    return 1;
  }
  std::vector<std::string> file_warnings;
  auto config = build_config(inv, /*require_data_dir=*/true, &file_warnings);
  if (!config) {
    fmt::print(stderr, "==> {}\n", config.error().message);
    return 1;
  }
  print_warnings(file_warnings, config->warnings);
  std::fflush(stderr);
#ifdef PRAETOR_HAVE_AGENT_RUNNER
  // SIGHUP and `praetor reload` re-read the same files with the same flags.
  auto reload = [inv]() -> Result<node::AgentConfig> {
    return build_config(inv, /*require_data_dir=*/true, nullptr);
  };
  return run_agent(*config, reload);
#else
  fmt::print(stderr, "==> this build of praetor has no agent runtime (cmd/praetor/agent_runner)\n");
  return 1;
#endif
}

int run_validate(Args args) {
  AgentInvocation inv;
  bool quiet = false;
  FlagSet flags("validate");
  flags.add_string("config-format", &inv.config_format,
                   "Config files are in this format irrespective of their extension (json).");
  flags.add_bool("quiet", &quiet, "When given, a successful run produces no output.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kValidateSynopsis, flags);
  if (rest->empty()) {
    fmt::print(stderr, "Must specify at least one config file or directory\n");
    return 1;
  }
  for (const auto& p : *rest) inv.paths.push_back({p});
  std::vector<std::string> file_warnings;
  // Like Consul's validate: the files may be for another host, so data_dir is not required.
  auto config = build_config(inv, /*require_data_dir=*/false, &file_warnings);
  if (!config) {
    fmt::print(stderr, "Config validation failed: {}\n", config.error().message);
    return 1;
  }
  if (!quiet) {
    print_warnings(file_warnings, config->warnings);
    fmt::print("Configuration is valid!\n");
  }
  return 0;
}

}  // namespace praetor::cmd
