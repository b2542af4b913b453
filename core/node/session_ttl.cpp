// The leader's session TTL timers (consul-compat §3.6). A session with a TTL is destroyed when
// the leader has not seen a renew for 2 x TTL. Renewing is not a Raft write, so the timers are
// the leader's alone: it starts one for every TTL session when it gains leadership (a new leader
// grants each session a full 2 x TTL, as Consul's does), keeps them in step with the sessions
// table after every apply (a new session starts its timer when the leader applies it; a
// destroyed one stops), resets one on renew (http_session.cpp), proposes SessionDestroy for
// those that expire, and drops them all when it loses leadership.
#include <fmt/format.h>

#include "core/catalog/session.hpp"
#include "core/node/agent.hpp"

namespace praetor::node {

void Agent::session_ttl_role_change(bool leader) {
  session_timers_.clear();
  // A new leader starts every timer afresh at its next sync; a former one keeps none.
  session_timers_stale_ = leader;
}

void Agent::sync_session_timers() {
  if (!is_leader()) {
    session_timers_.clear();
    return;
  }
  const auto& sessions = fsm_.sessions();
  if (!session_timers_stale_ && sessions.index() == session_timers_synced_) return;
  session_timers_stale_ = false;
  session_timers_synced_ = sessions.index();
  const Instant now = env_->clock.now();
  // Timers of sessions that are gone (destroyed, invalidated by the catalog) stop.
  std::vector<std::string> gone;
  for (const auto& [id, deadline] : session_timers_.deadlines()) {
    if (sessions.get(id) == nullptr) gone.push_back(id);
  }
  for (const auto& id : gone) session_timers_.remove(id);
  // TTL sessions without a timer (new, or all of them after an election) get one.
  for (const auto& [id, session] : sessions.all()) {
    if (session_timers_.contains(id)) continue;
    auto ttl = catalog::session_ttl(session.def);
    // A TTL that does not parse was refused before it was proposed; none means no timer.
    if (ttl && *ttl > Duration::zero()) session_timers_.reset(id, *ttl, now);
  }
}

void Agent::expire_sessions(Instant now) {
  if (!is_leader()) return;
  bool proposed = false;
  for (const std::string& id : session_timers_.take_expired(now)) {
    if (fsm_.sessions().get(id) == nullptr) continue;
    env_->logger.info("consul", "session {} expired: no renew within twice its TTL; destroying",
                      id);
    // Nobody waits for this entry: apply_committed finds no pending request for its index.
    auto index = raft_->propose(now, catalog::encode_command(catalog::SessionDestroy{id}));
    if (!index) {
      env_->logger.warn("consul", "could not propose destroying session {}: {}", id,
                        index.error().message);
      continue;
    }
    proposed = true;
  }
  if (proposed) drive_raft();
}

}  // namespace praetor::node
