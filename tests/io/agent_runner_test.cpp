#include "cmd/praetor/agent_runner.hpp"

#include <gtest/gtest.h>

namespace praetor::cmd {
namespace {

TEST(AgentRunner, ListensForHttpOnEveryClientAddress) {
  node::AgentConfig config;
  config.client_addr = {"127.0.0.1 127.0.0.2", "::1"};
  config.ports.http = 8500;
  config.ports.serf_lan = -1;  // HTTP only, for this test
  config.ports.dns = -1;
  auto listeners = agent_listeners(config);
  ASSERT_EQ(listeners.size(), 3u);
  EXPECT_EQ(listeners[0].channel, node::Channel::kHttp);
  EXPECT_EQ(listeners[0].endpoint.to_string(), "127.0.0.1:8500");
  EXPECT_EQ(listeners[1].endpoint.to_string(), "127.0.0.2:8500");
  EXPECT_EQ(listeners[2].endpoint.to_string(), "[::1]:8500");
  config.ports.http = -1;
  EXPECT_TRUE(agent_listeners(config).empty());
}

TEST(AgentRunner, ServersListenForRpcOnTheBindAddress) {
  node::AgentConfig config;
  config.server = true;
  config.bind_addr = "127.0.0.5";
  config.ports.server = 8305;
  config.ports.dns = -1;  // DNS listeners: DnsListensWhereServedOnEveryDnsAddress
  auto listeners = agent_listeners(config);
  ASSERT_EQ(listeners.size(), 6u);
  EXPECT_EQ(listeners[0].channel, node::Channel::kHttp);
  EXPECT_EQ(listeners[1].channel, node::Channel::kRpc);
  EXPECT_EQ(listeners[1].endpoint.to_string(), "127.0.0.5:8305");
  // Gossip: UDP and TCP on the LAN port, and on servers the WAN port.
  EXPECT_EQ(listeners[2], (io::Listener{node::Channel::kGossipLan, {"127.0.0.5", 8301}}));
  EXPECT_EQ(listeners[3], (io::Listener{node::Channel::kGossipLanStream, {"127.0.0.5", 8301}}));
  EXPECT_EQ(listeners[4], (io::Listener{node::Channel::kGossipWan, {"127.0.0.5", 8302}}));
  EXPECT_EQ(listeners[5], (io::Listener{node::Channel::kGossipWanStream, {"127.0.0.5", 8302}}));
  config.server = false;  // clients dial servers and gossip in the LAN pool only
  listeners = agent_listeners(config);
  ASSERT_EQ(listeners.size(), 3u);
  EXPECT_EQ(listeners[1].channel, node::Channel::kGossipLan);
  EXPECT_EQ(listeners[2].channel, node::Channel::kGossipLanStream);
}

// UDP and TCP on every DNS address (addresses.dns, else client_addr) at the DNS port; none for
// ports.dns -1.
TEST(AgentRunner, DnsListensWhereServedOnEveryDnsAddress) {
  node::AgentConfig config;
  config.client_addr = {"127.0.0.5 127.0.0.6"};
  config.ports.http = -1;
  config.ports.serf_lan = -1;
  config.ports.dns = 8600;
  auto listeners = agent_listeners(config);
  {
    ASSERT_EQ(listeners.size(), 4u);
    EXPECT_EQ(listeners[0], (io::Listener{node::Channel::kDns, {"127.0.0.5", 8600}}));
    EXPECT_EQ(listeners[1], (io::Listener{node::Channel::kDnsStream, {"127.0.0.5", 8600}}));
    EXPECT_EQ(listeners[2], (io::Listener{node::Channel::kDns, {"127.0.0.6", 8600}}));
    EXPECT_EQ(listeners[3], (io::Listener{node::Channel::kDnsStream, {"127.0.0.6", 8600}}));
    config.addresses_dns = "127.0.0.9";
    listeners = agent_listeners(config);
    ASSERT_EQ(listeners.size(), 2u);
    EXPECT_EQ(listeners[0], (io::Listener{node::Channel::kDns, {"127.0.0.9", 8600}}));
  }
  config.ports.dns = -1;
  EXPECT_TRUE(agent_listeners(config).empty());
}

TEST(AgentRunner, LimitsBlockReachesTheHost) {
  node::AgentConfig config;
  auto defaults = agent_host_options(config);
  EXPECT_EQ(defaults.http.max_conns_per_client, 200u);
  EXPECT_EQ(defaults.network.rpc_inbound_per_client_max, 100u);
  config.http_max_conns_per_client = 7;
  config.rpc_max_conns_per_client = 3;
  config.data_dir = "/var/praetor";
  auto options = agent_host_options(config);
  EXPECT_EQ(options.http.max_conns_per_client, 7u);
  EXPECT_EQ(options.network.rpc_inbound_per_client_max, 3u);
  EXPECT_EQ(options.data_dir, "/var/praetor");
  EXPECT_EQ(options.listeners, agent_listeners(config));
}

TEST(AgentRunner, BannerNamesTheKeySettings) {
  node::AgentConfig config;
  config.node_name = "n1";
  config.server = true;
  config.bootstrap = true;
  config.bind_addr = "127.0.0.1";
  std::string banner = startup_banner(config, "0b5c5a9e-0000-4000-8000-000000000001");
  EXPECT_EQ(banner.rfind("==> Starting Praetor agent...\n", 0), 0u);
  EXPECT_NE(banner.find("Node ID: '0b5c5a9e-0000-4000-8000-000000000001'"), std::string::npos);
  EXPECT_NE(banner.find("Node name: 'n1'"), std::string::npos);
  EXPECT_NE(banner.find("Datacenter: 'dc1'"), std::string::npos);
  EXPECT_NE(banner.find("Server: true (Bootstrap: true)"), std::string::npos);
  // DNS on its default port; no HTTPS listener: the banner says what is served.
  ASSERT_EQ(config.ports.dns, 8600);
  EXPECT_NE(banner.find("Client Addr: [127.0.0.1] (HTTP: 8500, HTTPS: -1, DNS: 8600)"),
            std::string::npos);
  EXPECT_NE(banner.find("Cluster Addr: 127.0.0.1 (LAN: 8301, WAN: 8302)"), std::string::npos);
  EXPECT_NE(banner.find("Gossip Encryption: false"), std::string::npos);
  EXPECT_NE(banner.find("==> Log data will now stream in as it occurs:\n"), std::string::npos);
}

TEST(AgentRunner, PortInUseFailsWithExitCodeOne) {
  // Occupy a port with a host of our own, then ask the runner for the same one.
  NullLogger logger;
  io::HostOptions options;
  options.handle_signals = false;
  options.listeners = {io::Listener{node::Channel::kHttp, node::Endpoint{"127.0.0.1", 0}}};
  io::UvHost holder(logger, options);
  auto bound = holder.open();
  ASSERT_TRUE(bound.has_value());
  node::AgentConfig config;
  config.dev = true;
  config.server = true;
  config.node_name = "busy";
  config.client_addr = {"127.0.0.1"};
  config.ports.http = (*bound)[0].endpoint.port;
  config.ports.server = -1;
  config.log_level = LogLevel::kError;
  EXPECT_EQ(run_agent(config, nullptr), 1);
}

}  // namespace
}  // namespace praetor::cmd
