#include "sim/sim_clock.hpp"

#include "core/base/assert.hpp"

namespace praetor::sim {

namespace {
constexpr std::int64_t kMillion = 1'000'000;

std::int64_t drift_term(std::int64_t global_ns, std::int64_t ppm) {
  // __int128 keeps g*ppm exact for every reachable simulated time.
  __extension__ using Wide = __int128;
  return static_cast<std::int64_t>(static_cast<Wide>(global_ns) * ppm / kMillion);
}
}  // namespace

Instant ClockModel::local(Instant global) const {
  PRAETOR_ASSERT(drift_ppm > -kMillion);
  if (global.is_never()) return global;
  return Instant::from_ns(global.ns() + offset.count_ns() + drift_term(global.ns(), drift_ppm));
}

Instant ClockModel::global_for(Instant local_at) const {
  if (local_at.is_never()) return local_at;
  __extension__ using Wide = __int128;
  std::int64_t shifted = local_at.ns() - offset.count_ns();
  if (shifted <= 0) return Instant::zero();
  // Invert local(g) = g + g*ppm/1e6 approximately, then step to the exact first instant.
  auto guess =
      static_cast<std::int64_t>(static_cast<Wide>(shifted) * kMillion / (kMillion + drift_ppm));
  if (guess < 0) guess = 0;
  while (guess > 0 && local(Instant::from_ns(guess - 1)) >= local_at) --guess;
  while (local(Instant::from_ns(guess)) < local_at) ++guess;
  return Instant::from_ns(guess);
}

WallTime ClockModel::wall(Instant global) const {
  return WallTime{kSimWallEpochNs + global.ns() + drift_term(global.ns(), drift_ppm) +
                  wall_skew.count_ns()};
}

}  // namespace praetor::sim
