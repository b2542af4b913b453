#include "sim/scenario.hpp"

#include <fmt/format.h>

#include "sim/model_kv.hpp"

namespace praetor::sim {

// Defined in scenario_kv_smoke.cpp when the agent is part of the build.
#ifdef PRAETOR_SIM_HAVE_AGENT
Scenario kv_smoke_scenario();
Scenario kv_cluster_scenario();
Scenario kv_cluster_stale_reads_scenario();
#endif
Scenario gossip_scale_scenario();  // scenario_gossip.cpp
Scenario gossip_loss_scenario();
Scenario memberlist_scale_scenario();
Scenario gossip_steady_scenario();
Scenario memberlist_steady_scenario();

std::vector<NodeOptions> single_node() {
  NodeOptions node;
  node.name = "n1";
  node.datacenter = "dc1";
  node.addresses = {"127.0.0.1"};
  return {node};
}

namespace {

// Writes through `node` until one is acknowledged or `deadline` passes. Retries after errors,
// refusals and losses, as a client would.
bool probe_write(World& world, const std::string& node, Instant deadline) {
  int attempt = 0;
  while (world.now() < deadline) {
    node::HttpRequest put;
    put.method = "PUT";
    put.path = "/v1/kv/sim/liveness-" + node;
    put.body = fmt::format("{}-{}", node, ++attempt);
    RequestId id = world.submit(node, put);
    world.run_until([&] { return world.reply(id)->status != ClientReply::Status::kPending; },
                    deadline);
    const ClientReply* r = world.reply(id);
    if (r->status == ClientReply::Status::kAnswered && r->response.status == 200 &&
        r->response.body == "true") {
      return true;
    }
    world.run_until(std::min(world.now() + Duration::seconds(1), deadline));
  }
  return false;
}

}  // namespace

KvWorkloadOptions default_kv_workload() {
  KvWorkloadOptions w;
  w.clients = 3;
  w.keys = 3;
  w.operations = 200;
  w.think_max = Duration::milliseconds(300);
  return w;
}

ScenarioResult run_kv_scenario(const ScenarioOptions& options, const KvScenarioSpec& spec) {
  Rng root(options.seed);
  World world(root.next_u64());
  Rng fault_rng = root.fork();
  Rng install_rng = root.fork();
  Rng workload_rng = root.fork();
  if (options.trace_out != nullptr) world.trace().set_echo(options.trace_out);

  KvWorkloadOptions wopts = spec.workload;
  wopts.targets.clear();
  for (const NodeOptions& node : spec.nodes) {
    world.add_process(node, [factory = spec.factory, node] { return factory(node); });
    wopts.targets.push_back(node.name);
  }

  ScenarioResult result;
  FaultPlan plan = plan_faults(fault_rng, spec.profile);
  if (spec.adjust_plan) spec.adjust_plan(plan);
  result.faults = plan.describe();
  world.trace().add(world.now(), "sim",
                    fmt::format("seed={} faults: {}", options.seed, result.faults));
  Instant begin = Instant::zero() + spec.warmup;
  install_faults(world, plan, install_rng, begin, begin + spec.fault_window);

  KvWorkload workload(world, wopts, workload_rng);
  world.schedule(begin, "workload start", [&workload](World&) { workload.start(); });

  Instant deadline = begin + spec.deadline;
  bool capped = false;
  while (!workload.done()) {
    if (options.max_steps != 0 && world.events_processed() >= options.max_steps) {
      capped = true;
      break;
    }
    if (world.events_pending() == 0 || world.now() > deadline || !world.step()) break;
  }
  if (!workload.done() && !capped) {
    result.failures.push_back(fmt::format("liveness: {} requests still unanswered at {}",
                                          workload.outstanding(), world.now()));
  }
  if (!capped) {
    // Phase 2: everything has healed; the cluster must serve writes again.
    Instant healed = begin + spec.fault_window;
    world.run_until(std::max(world.now(), healed));
    Instant bound = world.now() + spec.liveness_bound;
    for (const NodeOptions& node : spec.nodes) {
      if (!probe_write(world, node.name, bound)) {
        result.failures.push_back(fmt::format(
            "liveness: no write acknowledged through {} within {} after every fault healed",
            node.name, spec.liveness_bound));
      }
    }
  }
  CheckResult check = check_kv_linearizable(workload.history());
  if (!check.ok) result.failures.push_back("linearizability: " + check.detail);
  for (const auto& e : workload.protocol_errors()) result.failures.push_back("api: " + e);
  for (const auto& v : world.violations()) result.failures.push_back("host: " + v);
  if (spec.final_check) spec.final_check(world, result);

  result.pass = result.failures.empty();
  result.steps = world.events_processed();
  result.end = world.now();
  result.summary = fmt::format("{} keys={} checked={}{}", workload.counts(), check.keys, check.ops,
                               capped ? " (step cap)" : "");
  result.trace_hash = world.trace_hash();
  return result;
}

namespace {

KvScenarioSpec model_spec(ModelKv::Mode mode, bool crashes) {
  KvScenarioSpec spec;
  spec.factory = [mode](const NodeOptions&) { return std::make_unique<ModelKv>(mode); };
  spec.profile.partitions = false;
  spec.profile.clogs = false;
  spec.profile.crashes = crashes;
  return spec;
}

std::vector<Scenario> build_registry() {
  std::vector<Scenario> out;
  out.push_back({"model-kv", "reference KV process, durable, with crash-restart faults", false,
                 [](const ScenarioOptions& o) {
                   return run_kv_scenario(o, model_spec(ModelKv::Mode::kDurable, true));
                 }});
  out.push_back({"model-kv-ack-before-sync",
                 "checker self-test: acknowledges writes before they are durable", true,
                 [](const ScenarioOptions& o) {
                   KvScenarioSpec spec = model_spec(ModelKv::Mode::kAckBeforeSync, true);
                   // Make crashes certain so the lost acknowledged writes show up.
                   spec.adjust_plan = [](FaultPlan& plan) { plan.crashes = true; };
                   return run_kv_scenario(o, spec);
                 }});
  out.push_back({"model-kv-stale-reads", "checker self-test: serves reads one write behind", true,
                 [](const ScenarioOptions& o) {
                   return run_kv_scenario(o, model_spec(ModelKv::Mode::kStaleReads, false));
                 }});
#ifdef PRAETOR_SIM_HAVE_AGENT
  out.push_back(kv_smoke_scenario());
  out.push_back(kv_cluster_scenario());
  out.push_back(kv_cluster_stale_reads_scenario());
#endif
  out.push_back(gossip_scale_scenario());
  out.push_back(gossip_loss_scenario());
  out.push_back(memberlist_scale_scenario());
  out.push_back(gossip_steady_scenario());
  out.push_back(memberlist_steady_scenario());
  return out;
}

}  // namespace

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> registry = build_registry();
  return registry;
}

const Scenario* find_scenario(std::string_view name) {
  for (const auto& s : scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace praetor::sim
