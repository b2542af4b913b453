#include "core/catalog/session_timers.hpp"

#include "core/base/assert.hpp"
#include "core/catalog/session.hpp"

namespace praetor::catalog {

void SessionTimers::reset(const std::string& id, Duration ttl, Instant now) {
  PRAETOR_ASSERT_MSG(ttl > Duration::zero(), "session {} has no TTL to time", id);
  remove(id);
  const Instant deadline = now + ttl * kSessionTtlMultiplier;
  deadlines_.emplace(id, deadline);
  by_deadline_.emplace(deadline, id);
}

void SessionTimers::remove(const std::string& id) {
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return;
  by_deadline_.erase({it->second, id});
  deadlines_.erase(it);
}

void SessionTimers::clear() {
  deadlines_.clear();
  by_deadline_.clear();
}

std::vector<std::string> SessionTimers::take_expired(Instant now) {
  std::vector<std::string> out;
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    out.push_back(by_deadline_.begin()->second);
    deadlines_.erase(out.back());
    by_deadline_.erase(by_deadline_.begin());
  }
  return out;
}

Instant SessionTimers::next_deadline() const {
  return by_deadline_.empty() ? Instant::never() : by_deadline_.begin()->first;
}

void SessionTimers::check_invariants() const {
  PRAETOR_ASSERT(deadlines_.size() == by_deadline_.size());
  for (const auto& [deadline, id] : by_deadline_) PRAETOR_ASSERT(deadlines_.at(id) == deadline);
}

}  // namespace praetor::catalog
