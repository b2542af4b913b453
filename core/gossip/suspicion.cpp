#include "core/gossip/suspicion.hpp"

#include <algorithm>
#include <cmath>

#include "core/base/assert.hpp"

namespace praetor::gossip {

Duration suspicion_timeout(int suspicion_mult, std::size_t cluster_size, Duration probe_interval) {
  PRAETOR_ASSERT(suspicion_mult >= 0);
  const double n = std::max(1.0, static_cast<double>(cluster_size));
  const double node_scale = std::max(1.0, std::log10(n));
  // Scale in milliseconds first, as memberlist does, so results are whole milliseconds.
  const double ms = static_cast<double>(suspicion_mult) * node_scale *
                    static_cast<double>(probe_interval.count_ms());
  return Duration::milliseconds(static_cast<std::int64_t>(ms));
}

Duration remaining_suspicion_time(int confirmations, int needed, Duration elapsed, Duration min,
                                  Duration max) {
  PRAETOR_ASSERT(min <= max);
  PRAETOR_ASSERT(confirmations >= 0);
  double fraction = 1.0;
  if (needed > 0) {
    fraction = std::log(static_cast<double>(confirmations) + 1.0) /
               std::log(static_cast<double>(needed) + 1.0);
  }
  const double raw =
      static_cast<double>(max.count_ms()) - fraction * static_cast<double>((max - min).count_ms());
  Duration timeout = Duration::milliseconds(static_cast<std::int64_t>(std::floor(raw)));
  if (timeout < min) timeout = min;
  return timeout - elapsed;
}

int retransmit_limit(int retransmit_mult, std::size_t cluster_size) {
  PRAETOR_ASSERT(retransmit_mult >= 0);
  const double scale = std::ceil(std::log10(static_cast<double>(cluster_size) + 1.0));
  return retransmit_mult * static_cast<int>(scale);
}

Duration push_pull_scale(Duration interval, std::size_t cluster_size) {
  constexpr std::size_t kThreshold = 32;
  if (cluster_size <= kThreshold) return interval;
  const double multiplier =
      std::ceil(std::log2(static_cast<double>(cluster_size)) - std::log2(double{kThreshold})) + 1.0;
  return interval * static_cast<std::int64_t>(multiplier);
}

Suspicion::Suspicion(Instant start, const std::string& accuser, int needed, Duration min,
                     Duration max)
    : start_(start), needed_(needed < 1 ? 0 : needed), min_(min), max_(max) {
  PRAETOR_ASSERT(min <= max);
  witnesses_.insert(accuser);
}

bool Suspicion::confirm(const std::string& from) {
  if (confirmations_ >= needed_) return false;
  if (!witnesses_.insert(from).second) return false;
  ++confirmations_;
  return true;
}

Instant Suspicion::deadline() const {
  // With nobody expected to confirm, memberlist starts the timer at min directly.
  if (needed_ == 0) return start_ + min_;
  return start_ + remaining_suspicion_time(confirmations_, needed_, Duration::zero(), min_, max_);
}

}  // namespace praetor::gossip
