// kv-cluster: three server agents (configured as from files: server, bootstrap_expect=3,
// retry_join the others, a data_dir on the simulated disk) under the full fault swarm
// (loss, duplication, reordering, partitions incl. shenzhen|foshan, swizzle-clog,
// crash-restart with unsynced loss, clock skew), with ?consistent reads so the history must be
// linearizable. Experimental: it exercises Raft and request forwarding end to end.
#include <fmt/format.h>

#include <memory>

#include "core/node/agent.hpp"
#include "core/node/config.hpp"
#include "sim/scenario.hpp"

namespace praetor::sim {

namespace {

std::vector<NodeOptions> three_servers() {
  const char* dcs[] = {"shenzhen", "shenzhen", "foshan"};
  std::vector<NodeOptions> nodes;
  for (int i = 1; i <= 3; ++i) {
    NodeOptions o;
    o.name = fmt::format("n{}", i);
    o.datacenter = dcs[i - 1];  // the simulator's placement; every agent is in Consul's dc1
    o.addresses = {fmt::format("127.0.0.{}", i + 1)};
    nodes.push_back(o);
  }
  return nodes;
}

std::unique_ptr<node::Process> build_server(const NodeOptions& self,
                                            const std::vector<NodeOptions>& all) {
  std::string join;
  for (const auto& other : all) {
    if (other.name == self.name) continue;
    join += fmt::format("{}\"{}\"", join.empty() ? "" : ",", other.addresses.front());
  }
  std::string json = fmt::format(
      R"({{"node_name":"{}","server":true,"bootstrap_expect":{},"data_dir":"/var/praetor",)"
      R"("bind_addr":"{}","advertise_addr":"{}","client_addr":"127.0.0.1",)"
      R"("retry_join":[{}],"retry_interval":"1s","log_level":"INFO"}})",
      self.name, all.size(), self.addresses.front(), self.addresses.front(), join);
  Result<node::AgentConfig> config = node::load_config({{"sim " + self.name, json}}, false);
  PRAETOR_ASSERT_MSG(config.has_value(), "kv-cluster config: {}", config.error().message);
  config->check_invariants_each_input = true;
  return std::make_unique<node::Agent>(std::move(*config));
}

KvScenarioSpec cluster_spec() {
  KvScenarioSpec spec;
  spec.nodes = three_servers();
  spec.factory = [all = spec.nodes](const NodeOptions& self) { return build_server(self, all); };
  spec.warmup = Duration::seconds(10);  // elect a leader first
  spec.fault_window = Duration::seconds(30);
  // Requests parked in a cut-off follower wait out the forwarding timeout (~11 min).
  spec.deadline = Duration::minutes(15);
  return spec;
}

}  // namespace

Scenario kv_cluster_scenario() {
  return Scenario{"kv-cluster", "3 servers, full fault swarm, ?consistent reads (experimental)",
                  false, [](const ScenarioOptions& options) {
                    KvScenarioSpec spec = cluster_spec();
                    spec.workload.read_mode = "consistent";
                    return run_kv_scenario(options, spec);
                  }};
}

Scenario kv_cluster_stale_reads_scenario() {
  return Scenario{"kv-cluster-stale-reads",
                  "checker self-test: ?stale reads from followers are not linearizable", true,
                  [](const ScenarioOptions& options) {
                    KvScenarioSpec spec = cluster_spec();
                    spec.workload.read_mode = "stale";
                    return run_kv_scenario(options, spec);
                  }};
}

}  // namespace praetor::sim
