// Fault plans, drawn from the seed (swarm testing: the seed picks which nemeses are on and how
// hard they hit, so different seeds explore different fault regimes instead of one average mix).
//
// A profile says which fault classes make sense for a scenario (a single in-memory agent gains
// nothing from partitions and cannot survive a crash by design); the plan draws each allowed
// class on or off with probability 1/2 and then its rates from fixed ranges (loss 0-30%, as in
// TigerBeetle's VOPR). install_faults() applies the static parts (links, clocks, latencies) and
// schedules the nemesis events; at `until` every fault is healed (partitions, clogs, link loss,
// duplication and reordering; crashed nodes restart) so a run can check liveness.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/rng.hpp"
#include "sim/world.hpp"

namespace praetor::sim {

struct FaultProfile {
  bool network = true;         // loss, duplication, reordering, jitter (needs >1 node to matter)
  bool partitions = true;      // random halves, one-way, isolation, datacenter splits (2+ DCs)
  bool clogs = true;           // swizzle-clog
  bool crashes = true;         // crash + restart with unsynced loss
  bool clocks = true;          // per-node offset, drift, wall skew
  bool client_delays = true;   // slow clients / slow HTTP connections
  bool timer_lateness = true;  // wakes fire late
  bool corruption = false;     // bit flips in synced files of crashed nodes (crashes must be on)
};

struct FaultPlan {
  // Network.
  Duration latency = Duration::milliseconds(1);
  Duration jitter = Duration::zero();
  double loss = 0, duplicate = 0, reorder = 0;
  // Nemeses (each an on/off plus a mean gap between episodes).
  bool partitions = false, clogs = false, crashes = false;
  bool corruption = false;  // while a node is down, flip one bit of one synced file
  Duration nemesis_gap = Duration::seconds(2);
  Duration nemesis_duration_max = Duration::seconds(3);
  // Clocks.
  bool skew = false;
  Duration offset_max = Duration::zero();
  std::int64_t drift_ppm_max = 0;
  Duration wall_skew_max = Duration::zero();
  // Host noise.
  Duration client_delay_max = Duration::zero();
  Duration timer_lateness_max = Duration::zero();

  std::string describe() const;
};

FaultPlan plan_faults(Rng& rng, const FaultProfile& profile);

// Applies `plan` to every node of `world` (call before the first step, so clocks are set before
// any process reads them) and schedules nemesis episodes in [from, until).
void install_faults(World& world, const FaultPlan& plan, Rng rng, Instant from, Instant until);

}  // namespace praetor::sim
