// A simulated node's clocks. The world keeps one global virtual timeline; each node reads it
// through a ClockModel: a fixed offset (nodes boot at different moments), a rate error (drift,
// in parts per million) and a separate wall-clock skew. The monotonic clock stays monotonic for
// any drift above -1e6 ppm; only the wall clock is allowed to be far off.
#pragma once

#include <cstdint>

#include "core/base/instant.hpp"

namespace praetor::sim {

// 2026-01-01T00:00:00Z: where simulated wall clocks start, so TTL text looks plausible.
inline constexpr std::int64_t kSimWallEpochNs = 1'767'225'600LL * 1'000'000'000LL;

struct ClockModel {
  Duration offset = Duration::zero();  // local monotonic reading at global time zero
  std::int64_t drift_ppm = 0;          // +100 = runs 100 µs fast per second; > -1'000'000
  Duration wall_skew = Duration::zero();

  // The node's monotonic reading at global time `global`.
  Instant local(Instant global) const;
  // The earliest global time at which local() >= `local_at` (for timers).
  Instant global_for(Instant local_at) const;
  WallTime wall(Instant global) const;
};

}  // namespace praetor::sim
