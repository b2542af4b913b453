#include "cmd/praetor/agent_runner.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/node/agent.hpp"
#include "io/log_sink.hpp"
#include "io/uv_storage.hpp"

namespace praetor::cmd {
namespace {

std::vector<std::string> split_spaces(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
}

std::vector<std::string> http_addresses(const node::AgentConfig& config) {
  if (!config.addresses_http.empty()) return split_spaces(config.addresses_http);
  std::vector<std::string> out;
  for (const auto& entry : config.client_addr) {
    for (auto& a : split_spaces(entry)) out.push_back(std::move(a));
  }
  return out;
}

// Consul binds DNS on addresses.dns when set, else on every client address.
std::vector<std::string> dns_addresses(const node::AgentConfig& config) {
  if (!config.addresses_dns.empty()) return split_spaces(config.addresses_dns);
  std::vector<std::string> out;
  for (const auto& entry : config.client_addr) {
    for (auto& a : split_spaces(entry)) out.push_back(std::move(a));
  }
  return out;
}

bool is_tcp(node::Channel channel) {
  return channel == node::Channel::kRpc || channel == node::Channel::kGossipLanStream ||
         channel == node::Channel::kGossipWanStream || channel == node::Channel::kDnsStream;
}

std::string cluster_address(const node::AgentConfig& config) {
  if (!config.advertise_addr.empty()) return config.advertise_addr;
  return config.bind_addr;
}

// The pid file is not data: like Consul's (0666 less the umask) it stays readable for init
// scripts and monitoring.
Result<void> write_pid_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return make_error(ErrorCode::kIo,
                      fmt::format("could not write pid file {}: {}", path, std::strerror(errno)));
  }
  fmt::print(f, "{}", ::getpid());
  std::fclose(f);
  return ok();
}

// log_file names a file, or a directory (trailing '/', or an existing directory) to put
// praetor.log in.
std::string log_file_path(const std::string& log_file) {
  struct stat st {};
  bool is_dir =
      log_file.back() == '/' || (::stat(log_file.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
  if (!is_dir) return log_file;
  return log_file.back() == '/' ? log_file + "praetor.log" : log_file + "/praetor.log";
}

// What an operator must not miss, in the log stream (and log_file) as well as on stderr before
// the banner: an HTTP API open beyond loopback without ACLs, and a data_dir others can read.
void log_safety_warnings(const node::AgentConfig& config, const io::DataDirState& data_dir,
                         io::LogSink& sink) {
  if (const auto exposed = node::unprotected_api_warning(config); !exposed.empty()) {
    sink.warn("agent", "SECURITY: {}", exposed);
  }
  // An existing data_dir keeps its mode (D17): the operator may have opened it on purpose, for a
  // backup user say, and praetor should not silently change what it did not create.
  if (!data_dir.created && (data_dir.mode & 077) != 0) {
    sink.warn("agent",
              "SECURITY: data_dir {} has mode {:04o}: other users may read the catalog and KV "
              "data in it; praetor creates it 0700 but does not change an existing directory "
              "(chmod 700 {})",
              config.data_dir, data_dir.mode, config.data_dir);
  }
}

}  // namespace

std::vector<io::Listener> agent_listeners(const node::AgentConfig& config) {
  std::vector<io::Listener> out;
  if (config.ports.http >= 0) {
    for (const auto& host : http_addresses(config)) {
      out.push_back(
          io::Listener{node::Channel::kHttp,
                       node::Endpoint{host, static_cast<std::uint16_t>(config.ports.http)}});
    }
  }
  // Servers take RPC from each other (Raft, forwarded requests) and from clients.
  if (config.server && config.ports.server >= 0) {
    out.push_back(io::Listener{
        node::Channel::kRpc,
        node::Endpoint{config.bind_addr, static_cast<std::uint16_t>(config.ports.server)}});
  }
  // Gossip: every agent in the LAN pool, servers also in the WAN pool; UDP for SWIM's packets,
  // TCP on the same port for push/pull state exchanges.
  auto gossip = [&](node::Channel packets, node::Channel streams, int port) {
    const node::Endpoint at{config.bind_addr, static_cast<std::uint16_t>(port)};
    out.push_back(io::Listener{packets, at});
    out.push_back(io::Listener{streams, at});
  };
  if (config.ports.serf_lan > 0) {
    gossip(node::Channel::kGossipLan, node::Channel::kGossipLanStream, config.ports.serf_lan);
  }
  if (config.server && config.ports.serf_wan > 0) {
    gossip(node::Channel::kGossipWan, node::Channel::kGossipWanStream, config.ports.serf_wan);
  }
  // DNS, UDP and TCP on the same port, on every DNS address; only once the agent answers it
  // (node::served_dns_port is -1 until then, and for ports.dns -1 or 0).
  if (const int port = node::served_dns_port(config); port > 0) {
    for (const auto& host : dns_addresses(config)) {
      const node::Endpoint at{host, static_cast<std::uint16_t>(port)};
      out.push_back(io::Listener{node::Channel::kDns, at});
      out.push_back(io::Listener{node::Channel::kDnsStream, at});
    }
  }
  return out;
}

io::HostOptions agent_host_options(const node::AgentConfig& config) {
  io::HostOptions options;
  options.data_dir = config.dev ? std::string() : config.data_dir;
  options.listeners = agent_listeners(config);
  // Consul's limits block; load_config refuses values below 1.
  PRAETOR_ASSERT(config.http_max_conns_per_client > 0);
  PRAETOR_ASSERT(config.rpc_max_conns_per_client > 0);
  options.http.max_conns_per_client = static_cast<std::size_t>(config.http_max_conns_per_client);
  options.network.rpc_inbound_per_client_max =
      static_cast<std::size_t>(config.rpc_max_conns_per_client);
  return options;
}

std::string startup_banner(const node::AgentConfig& config, std::string_view node_id) {
  std::string clients;
  for (const auto& a : http_addresses(config)) clients += (clients.empty() ? "" : " ") + a;
  std::string out = "==> Starting Praetor agent...\n";
  auto line = [&](std::string_view key, const std::string& value) {
    out += fmt::format("{:>18}: {}\n", key, value);
  };
  line("Version", fmt::format("'{}'", node::kVersion));
  line("Node ID", fmt::format("'{}'", node_id));
  line("Node name", fmt::format("'{}'", config.node_name));
  line("Datacenter",
       fmt::format("'{}' (Segment: '{}')", config.datacenter, config.server ? "<all>" : ""));
  line("Server", fmt::format("{} (Bootstrap: {})", config.server,
                             config.bootstrap || config.bootstrap_expect == 1 || config.dev));
  // HTTPS shows what is served, not what is configured: there is no HTTPS listener.
  line("Client Addr", fmt::format("[{}] (HTTP: {}, HTTPS: {}, DNS: {})", clients, config.ports.http,
                                  -1, node::served_dns_port(config)));
  line("Cluster Addr", fmt::format("{} (LAN: {}, WAN: {})", cluster_address(config),
                                   config.ports.serf_lan, config.ports.serf_wan));
  line("Gossip Encryption", config.encrypt.empty() ? "false" : "true");
  out += "\n==> Log data will now stream in as it occurs:\n";
  return out;
}

int run_agent(const node::AgentConfig& config,
              std::function<Result<node::AgentConfig>()> reload_config) {
  // data_dir first, with its parents, as Consul does: `-data-dir D/n1/data -pid-file D/n1/pid`
  // then works when D/n1 does not exist yet.
  io::DataDirState data_dir;
  if (!config.dev && !config.data_dir.empty()) {
    auto made = io::ensure_data_dir(config.data_dir);
    if (!made) {
      fmt::print(stderr, "==> Error creating data_dir: {}\n", made.error().message);
      return 1;
    }
    data_dir = *made;
  }
  io::LogSink sink(config.log_level);
  if (!config.log_file.empty()) {
    if (auto opened = sink.open_file(log_file_path(config.log_file)); !opened) {
      fmt::print(stderr, "==> {}\n", opened.error().message);
      return 1;
    }
  }
  if (!config.pid_file.empty()) {
    if (auto written = write_pid_file(config.pid_file); !written) {
      fmt::print(stderr, "==> {}\n", written.error().message);
      return 1;
    }
  }
  // Like Consul, hold log lines back until the banner is out.
  sink.hold();
  log_safety_warnings(config, data_dir, sink);
  node::Agent agent(config);
  io::HostOptions options = agent_host_options(config);
  options.on_reload = [&] {
    if (!reload_config) return;
    auto fresh = reload_config();
    if (!fresh) {
      agent.reload_failed(fresh.error().message);  // logs it and answers waiting requests
      return;
    }
    const LogLevel level = fresh->log_level;
    if (agent.reload(std::move(*fresh))) sink.set_level(level);
  };
  int code = 1;
  {
    io::UvHost host(sink, std::move(options));
    auto bound = host.open();
    if (!bound) {
      sink.release();
      sink.error("agent", "Error starting agent: {}", bound.error().message);
      fmt::print(stderr, "==> Error starting agent: {}\n", bound.error().message);
    } else {
      host.start(agent);
      std::fputs(startup_banner(config, agent.node_id()).c_str(), stdout);
      std::fflush(stdout);
      sink.release();
      for (const auto& l : *bound) {
        if (l.channel == node::Channel::kHttp) {
          sink.info("agent", "Started HTTP server on {} (tcp)", l.endpoint);
        } else if (l.channel == node::Channel::kDns || l.channel == node::Channel::kDnsStream) {
          // Consul's words, which operators grep for.
          sink.info("agent", "Started DNS server {} ({})", l.endpoint,
                    is_tcp(l.channel) ? "tcp" : "udp");
        } else {
          sink.info("agent", "Started {} listener on {} ({})", node::channel_name(l.channel),
                    l.endpoint, is_tcp(l.channel) ? "tcp" : "udp");
        }
      }
      code = host.run();
    }
  }
  if (!config.pid_file.empty()) ::unlink(config.pid_file.c_str());
  return code;
}

}  // namespace praetor::cmd
