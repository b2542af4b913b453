// Scenarios: named, seeded simulator runs with a verdict. praetor-sim and the tests run them
// through this registry, so a failing seed replays with the same code path everywhere.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/node/process.hpp"
#include "sim/faults.hpp"
#include "sim/workload.hpp"

namespace praetor::sim {

struct ScenarioOptions {
  std::uint64_t seed = 1;
  std::FILE* trace_out = nullptr;  // print the trace here while running
  std::uint64_t max_steps = 0;     // stop after this many events (0: no cap)
  std::uint64_t nodes = 0;         // cluster size for scenarios that scale (0: their default)
  std::uint64_t minutes = 0;       // simulated span for scenarios that take one (0: default)
};

struct ScenarioResult {
  bool pass = true;
  std::uint64_t trace_hash = 0;
  std::uint64_t steps = 0;
  Instant end;
  std::string faults;                 // FaultPlan::describe()
  std::string summary;                // op counts
  std::vector<std::string> failures;  // why it failed, one item per reason
};

struct Scenario {
  std::string name;
  std::string description;
  bool expect_failures = false;  // a checker self-test: most seeds should fail
  std::function<ScenarioResult(const ScenarioOptions&)> run;
};

const std::vector<Scenario>& scenarios();
const Scenario* find_scenario(std::string_view name);

// The shared body of the KV scenarios: the nodes built by `factory`, the seed's fault plan
// limited by `profile`, the KV workload against all of them, then (after every fault heals at
// the end of the fault window) a liveness bound, the linearizability check and the API checks.
// 3 clients, 3 keys, 200 operations spread over about ten simulated seconds.
KvWorkloadOptions default_kv_workload();

// One node "n1" in "dc1" at 127.0.0.1.
std::vector<NodeOptions> single_node();

struct KvScenarioSpec {
  std::vector<NodeOptions> nodes = single_node();
  std::function<std::unique_ptr<node::Process>(const NodeOptions&)> factory;
  FaultProfile profile;
  KvWorkloadOptions workload = default_kv_workload();  // targets are filled in
  Duration warmup = Duration::zero();                  // before the workload and the faults start
  Duration fault_window = Duration::seconds(10);
  Duration deadline = Duration::seconds(60);  // liveness: every request answered by then
  // Liveness after heal (test matrix K14): once every fault has healed, each node must accept
  // a write within this bound.
  Duration liveness_bound = Duration::seconds(30);
  std::function<void(FaultPlan&)> adjust_plan;               // optional, before install
  std::function<void(World&, ScenarioResult&)> final_check;  // optional, after the run
};
ScenarioResult run_kv_scenario(const ScenarioOptions& options, const KvScenarioSpec& spec);

}  // namespace praetor::sim
