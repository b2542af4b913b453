// The leader's TTL timers for sessions (consul-compat §3.6): a session with a TTL that is not
// renewed within kSessionTtlMultiplier x TTL is destroyed. Renewing is not a Raft write, so the
// timers are the leader's own state: it starts one for every TTL session when it gains
// leadership, resets one on create and renew, and drops them all when it loses leadership; a new
// leader thus grants every session a full 2 x TTL. Pure: time comes in as arguments.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/base/instant.hpp"

namespace praetor::catalog {

class SessionTimers {
 public:
  // (Re)starts id's timer: it expires at now + kSessionTtlMultiplier x ttl.
  void reset(const std::string& id, Duration ttl, Instant now);
  void remove(const std::string& id);
  void clear();
  bool contains(const std::string& id) const { return deadlines_.contains(id); }
  std::size_t size() const { return deadlines_.size(); }
  const std::map<std::string, Instant>& deadlines() const { return deadlines_; }
  // The sessions whose timer expired at or before now, in deadline order; their timers are
  // removed (the caller proposes their destroy).
  std::vector<std::string> take_expired(Instant now);
  // Instant::never() when there is no timer.
  Instant next_deadline() const;
  void check_invariants() const;

 private:
  std::map<std::string, Instant> deadlines_;
  std::set<std::pair<Instant, std::string>> by_deadline_;
};

}  // namespace praetor::catalog
