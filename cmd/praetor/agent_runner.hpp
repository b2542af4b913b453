// Runs the agent under the libuv host: the `praetor agent` command after its configuration has
// been loaded. Prints the startup banner, writes the pid file, opens the listeners, runs the loop
// until the agent shuts down, and returns the process exit code.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.hpp"
#include "core/node/config.hpp"
#include "io/uv_host.hpp"

namespace praetor::cmd {

// The sockets the agent needs for this configuration: HTTP on every client address at
// ports.http (unless -1); on servers RPC at bind_addr:ports.server (unless -1); gossip (UDP and
// TCP) at bind_addr on serf_lan, and serf_wan on servers; DNS UDP and TCP on every DNS address
// (addresses.dns, else client_addr) at node::served_dns_port (none while it is -1).
std::vector<io::Listener> agent_listeners(const node::AgentConfig& config);

// The host's options for this configuration: storage, listeners, and the connection caps of
// Consul's `limits` block (http_max_conns_per_client, rpc_max_conns_per_client).
io::HostOptions agent_host_options(const node::AgentConfig& config);

// The banner printed before the logs start, "==> Starting Praetor agent..." through
// "==> Log data will now stream in as it occurs:".
std::string startup_banner(const node::AgentConfig& config, std::string_view node_id);

// Blocks until the agent exits. `reload_config` re-reads the configuration on SIGHUP; an error
// is logged and the running configuration kept. Returns 0 after a clean shutdown, 1 when the
// agent could not start (a port in use, an unwritable pid or log file).
int run_agent(const node::AgentConfig& config,
              std::function<Result<node::AgentConfig>()> reload_config);

}  // namespace praetor::cmd
