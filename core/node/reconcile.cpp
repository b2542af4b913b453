// When the leader reconciles: Raft membership with the LAN pool (autopilot), and soon the
// catalog with the pool's members. Consul's leader does it on every member event, on gaining
// leadership and every reconcile_interval; so does praetor, plus after each commit while a change
// it proposed is in flight (Raft takes one at a time) and when a failed server's grace ends.
// Nothing here runs per gossip packet.
#include "core/node/agent.hpp"

namespace praetor::node {
namespace {

// Autopilot: a learner within this many entries of the leader is promoted.
constexpr std::uint64_t kPromoteLag = 64;
// A server must stay failed this long before autopilot removes it: a partition or a restart is
// not a death, and removal only trades one missing voter for a smaller configuration.
constexpr Duration kDeadServerGrace = Duration::minutes(5);
// Consul's reconcile_interval: a full pass at least this often repairs whatever an event missed.
constexpr Duration kReconcileInterval = Duration::seconds(60);

}  // namespace

void Agent::schedule_reconcile(Instant at) { reconcile_due_ = std::min(reconcile_due_, at); }

void Agent::reconcile_if_due(Instant now) {
  if (stopping_ || reconcile_due_ > now) return;
  reconcile_due_ = Instant::never();
  maybe_bootstrap_expect();
  if (!is_leader()) return;  // gaining leadership schedules a pass
  reconcile_unsettled_ = false;
  // Learners wait for their log to catch up: while one exists, look again after each commit.
  if (!raft_->status().membership.learners.empty()) reconcile_unsettled_ = true;
  reconcile_servers(now);
  schedule_reconcile(now + kReconcileInterval);
}

// The leader's autopilot, after Consul's leader reconciliation and autopilot:
//   - a server of this datacenter that is alive in the LAN pool and not in the Raft
//     configuration joins as a learner (non-voter) and is promoted once its log has caught up;
//   - a member whose name or address a new server now claims (a server rebuilt with a wiped
//     data_dir) is removed first;
//   - a server that left the LAN pool gracefully, or was reaped, is removed;
//   - a server failed for longer than kDeadServerGrace is removed when the voters left alive
//     still form a majority of the smaller configuration (Consul's cleanup_dead_servers and its
//     quorum guard); if it comes back, it is alive again and is added back like any new server.
// Raft allows one change in flight and only after a commit in the leader's term: whatever this
// pass proposed or was refused, it leaves the reconciliation unsettled, and the next commit runs
// it again.
void Agent::reconcile_servers(Instant now) {
  if (!is_leader() || !lan_.serf) return;
  const raft::Status status = raft_->status();
  auto propose = [&](raft::MembershipChange::Kind kind, NodeId node, std::string_view what) {
    reconcile_unsettled_ = true;
    auto index = raft_->propose_membership(now, raft::MembershipChange{kind, node});
    if (index) {
      std::string name = servers_.contains(node) ? servers_[node].name : std::to_string(node.value());
      env_->logger.info("autopilot", "{} server {}", what, name);
      drive_raft();
    }
  };
  for (NodeId learner : status.membership.learners) {
    auto it = status.progress.find(learner);
    if (it != status.progress.end() &&
        it->second.match.value() + kPromoteLag >= status.last_index.value()) {
      propose(raft::MembershipChange::Kind::kPromote, learner, "promoting");
      return;
    }
  }
  const auto& members = lan_.serf->members();
  auto gossip_status = [&](NodeId id) -> std::optional<gossip::SerfStatus> {
    auto info = servers_.find(id);
    if (info == servers_.end()) return std::nullopt;
    auto m = members.find(info->second.name);
    if (m == members.end()) return std::nullopt;
    return m->second.status;
  };
  // Servers that left (or were reaped after leaving or failing: the name is gone from the pool
  // but was there before; servers_ only holds servers we heard of).
  for (NodeId member : status.membership.all()) {
    if (member == raft_id_) continue;
    auto info = servers_.find(member);
    if (info == servers_.end()) continue;
    auto st = gossip_status(member);
    if (st == gossip::SerfStatus::kLeft) {
      propose(raft::MembershipChange::Kind::kRemove, member, "removing departed");
      return;
    }
  }
  std::size_t alive_voters = 0;
  for (NodeId voter : status.membership.voters) {
    if (voter == raft_id_ || server_alive(voter)) ++alive_voters;
  }
  for (NodeId voter : status.membership.voters) {
    if (voter == raft_id_ || gossip_status(voter) != gossip::SerfStatus::kFailed) continue;
    const auto& m = members.at(servers_.at(voter).name);
    const std::size_t voters_after = status.membership.voters.size() - 1;
    if (m.leave_time + kDeadServerGrace > now) {
      schedule_reconcile(m.leave_time + kDeadServerGrace);  // look again when the grace ends
      continue;
    }
    if (alive_voters >= voters_after / 2 + 1) {
      propose(raft::MembershipChange::Kind::kRemove, voter, "removing failed");
      return;
    }
  }
  for (const auto& [id, info] : servers_) {
    if (status.membership.contains(id) || !server_alive(id)) continue;
    for (NodeId member : status.membership.all()) {
      if (member == raft_id_ || member == id) continue;
      auto old = servers_.find(member);
      if (old != servers_.end() && (old->second.name == info.name || old->second.address == info.address)) {
        propose(raft::MembershipChange::Kind::kRemove, member, "removing stale");
        return;
      }
    }
    propose(raft::MembershipChange::Kind::kAddLearner, id, "adding");
    return;
  }
}


}  // namespace praetor::node
