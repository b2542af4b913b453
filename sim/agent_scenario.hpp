// Runs a scenario file (sim/scenario_file.hpp) with full node::Agent processes in one seeded
// World: servers and clients configured as from their JSON files, script checks whose scripted
// outcome follows the scenario's master, DNS prober processes, KV clients through the agents'
// HTTP API, the fault timeline as World events, and the expectations checked at the end.
//
// The seed decides everything the file leaves open: latencies, the agents' own randomness,
// crash tearing, when within its period each client starts. Same file + same seed = same trace
// hash.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/checkers.hpp"
#include "sim/scenario.hpp"
#include "sim/scenario_file.hpp"

namespace praetor::sim {

// What the end of a run read for one key ("dc/key"), and when that read was sent.
struct FinalRead {
  std::optional<std::string> value;  // nullopt: absent
  Instant call;
};

// expect no-lost-writes over a history of PUTs (unique values) and the final reads: an
// acknowledged PUT is lost when it was acknowledged before its key's final read began and the key
// ends absent, or holding a value whose write was acknowledged before this PUT began. Returns one
// reason per lost key; `acknowledged` counts the acknowledged PUTs of the keys read.
std::vector<std::string> check_no_lost_writes(const std::vector<KvOp>& history,
                                              const std::map<std::string, FinalRead>& finals,
                                              std::size_t& acknowledged);

// `keep_timeline` false skips building the timeline text (sweeps).
FileRunResult run_scenario_file(const ScenarioFile& scenario, const ScenarioOptions& options,
                                bool keep_timeline);

}  // namespace praetor::sim
