// Lifeguard §IV-A local health awareness: a score in [0, max-1] that rises when this node misses
// acks and nacks it should have received (its own loop or network is probably at fault) and falls
// on successful probes. Timeouts are scaled by (score + 1), so a struggling node probes more
// slowly and suspects others less eagerly instead of spreading false accusations.
#pragma once

#include <algorithm>

#include "core/base/assert.hpp"
#include "core/base/instant.hpp"

namespace praetor::gossip {

// A pure helper: the timeout as stretched by a health score.
inline Duration scale_by_awareness(Duration timeout, int score) {
  PRAETOR_ASSERT(score >= 0);
  return timeout * (score + 1);
}

class Awareness {
 public:
  explicit Awareness(int max_multiplier) : max_(max_multiplier < 1 ? 1 : max_multiplier) {}

  void apply_delta(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }
  int score() const { return score_; }
  // The multiplier of timeouts: 1 when healthy, max when the score saturates.
  int multiplier() const { return score_ + 1; }
  int max_multiplier() const { return max_; }
  Duration scale(Duration timeout) const { return scale_by_awareness(timeout, score_); }

 private:
  int max_;
  int score_ = 0;
};

}  // namespace praetor::gossip
