// kv-smoke: the dev agent (node::Agent with node::dev_defaults()) alone, under the KV workload.
// A single in-memory server has no peers and keeps nothing across a crash by design, so only
// the faults that still bite a lone node are drawn: clock offset/drift/wall skew, late timers
// and slow clients.
#include <memory>

#include "core/node/agent.hpp"
#include "core/node/config.hpp"
#include "sim/scenario.hpp"

namespace praetor::sim {

Scenario kv_smoke_scenario() {
  return Scenario{"kv-smoke", "dev agent under the KV workload, single-node faults", false,
                  [](const ScenarioOptions& options) {
                    KvScenarioSpec spec;
                    spec.factory = [](const NodeOptions& node) {
                      node::AgentConfig config = node::dev_defaults();
                      config.node_name = node.name;
                      config.check_invariants_each_input = true;
                      return std::make_unique<node::Agent>(std::move(config));
                    };
                    spec.profile.network = false;
                    spec.profile.partitions = false;
                    spec.profile.clogs = false;
                    spec.profile.crashes = false;
                    spec.final_check = [](World& world, ScenarioResult&) {
                      if (auto* agent = world.process_as<node::Agent>("n1"))
                        agent->check_invariants();
                    };
                    return run_kv_scenario(options, spec);
                  }};
}

}  // namespace praetor::sim
