// Pure timing helpers of SWIM and Lifeguard, and the per-suspect confirmation tracker.
//
// Lifeguard §IV-B (local health aware suspicion): a suspicion starts with a long timeout `max`
// that shrinks towards `min` as independent members confirm it, so a truly dead node is declared
// quickly while a lone (possibly unhealthy) accuser cannot kill a healthy node fast.
#pragma once

#include <set>
#include <string>

#include "core/base/instant.hpp"

namespace praetor::gossip {

// memberlist suspicionTimeout: suspicion_mult * max(1, log10(max(1, n))) * probe_interval.
Duration suspicion_timeout(int suspicion_mult, std::size_t cluster_size, Duration probe_interval);

// Remaining time of a suspicion after `confirmations` of `needed` independent confirmations:
// max - log(c+1)/log(k+1) * (max - min), never below min, minus the time already elapsed (may be
// negative: the suspicion is overdue).
Duration remaining_suspicion_time(int confirmations, int needed, Duration elapsed, Duration min,
                                  Duration max);

// How many times one broadcast is piggybacked: retransmit_mult * ceil(log10(n + 1)).
int retransmit_limit(int retransmit_mult, std::size_t cluster_size);

// memberlist pushPullScale: above 32 members the interval grows with log2(n) so the push/pull
// load per node stays flat.
Duration push_pull_scale(Duration interval, std::size_t cluster_size);

// The state of one suspicion. The accuser counts as the first (not extra) witness.
class Suspicion {
 public:
  Suspicion(Instant start, const std::string& accuser, int needed, Duration min, Duration max);

  // Records an independent confirmation; false if `from` already accused or none are needed.
  bool confirm(const std::string& from);
  Instant deadline() const;
  int confirmations() const { return confirmations_; }
  int needed() const { return needed_; }
  Duration min() const { return min_; }
  Duration max() const { return max_; }
  Instant start() const { return start_; }

 private:
  Instant start_;
  int needed_ = 0;
  int confirmations_ = 0;
  Duration min_;
  Duration max_;
  std::set<std::string> witnesses_;
};

}  // namespace praetor::gossip
