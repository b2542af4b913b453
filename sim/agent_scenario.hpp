// Runs a scenario file (sim/scenario_file.hpp) with full node::Agent processes in one seeded
// World: servers and clients configured as from their JSON files, script checks whose scripted
// outcome follows the scenario's master, DNS prober processes, KV clients through the agents'
// HTTP API, the fault timeline as World events, and the expectations checked at the end.
//
// The seed decides everything the file leaves open: latencies, the agents' own randomness,
// crash tearing, when within its period each client starts. Same file + same seed = same trace
// hash.
#pragma once

#include "sim/scenario.hpp"
#include "sim/scenario_file.hpp"

namespace praetor::sim {

// `keep_timeline` false skips building the timeline text (sweeps).
FileRunResult run_scenario_file(const ScenarioFile& scenario, const ScenarioOptions& options,
                                bool keep_timeline);

}  // namespace praetor::sim
