// A Lamport clock (Lamport 1978): Serf orders intents about a member and user events with it.
// witness() moves past any time seen from a peer, so a later local event sorts after it.
#pragma once

#include "core/base/ids.hpp"

namespace praetor::gossip {

class LamportClock {
 public:
  LamportTime time() const { return time_; }
  // Advances and returns the new time.
  LamportTime increment() {
    time_ = time_.next();
    return time_;
  }
  void witness(LamportTime seen) {
    if (seen >= time_) time_ = seen.next();
  }

 private:
  LamportTime time_;
};

}  // namespace praetor::gossip
