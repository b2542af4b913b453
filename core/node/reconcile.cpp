// When the leader reconciles: Raft membership with the LAN pool (autopilot), and soon the
// catalog with the pool's members. Consul's leader does it on every member event, on gaining
// leadership and every reconcile_interval; so does praetor, plus after each commit while a change
// it proposed is in flight (Raft takes one at a time) and when a failed server's grace ends.
// Nothing here runs per gossip packet.
#include <charconv>
#include <set>

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
  reconcile_catalog(now);
  schedule_reconcile(now + kReconcileInterval);
}

namespace {

constexpr std::string_view kSerfCheckId = "serfHealth";
constexpr std::string_view kSerfCheckName = "Serf Health Status";
constexpr std::string_view kAliveOutput = "Agent alive and reachable";
constexpr std::string_view kFailedOutput = "Agent not live or unreachable";

std::string tag_of(const gossip::Tags& tags, const std::string& key) {
  auto it = tags.find(key);
  return it == tags.end() ? std::string() : it->second;
}

}  // namespace

// The catalog follows the LAN pool, as Consul's leader keeps it (reconcileMember): an alive
// member is a node with a passing serfHealth check, and a server also carries the `consul`
// service on its RPC port (clients look for it); a failed member's serfHealth is critical, which
// also invalidates the sessions that name it; a member that left, or that the pool has forgotten
// (reaped), is deregistered with everything on it. A member already in that shape costs nothing:
// nothing is proposed, so the 60-second pass does not grow the log.
void Agent::reconcile_catalog(Instant now) {
  if (!lan_.serf) return;
  const catalog::CatalogState& cat = fsm_.catalog();
  // One proposal per member at a time: the next pass may run before it applies.
  std::erase_if(reconcile_inflight_,
                [this](const auto& entry) { return entry.second <= fsm_.applied_index(); });
  bool proposed = false;
  auto propose = [&](const std::string& node, catalog::Command command) {
    if (reconcile_inflight_.contains(node)) return;
    auto index = raft_->propose(now, catalog::encode_command(command));
    if (!index) {
      // Refused (a change in flight, the log full): the next pass tries again.
      reconcile_unsettled_ = true;
      return;
    }
    reconcile_inflight_[node] = *index;
    proposed = true;
  };
  std::set<std::string> in_pool;
  for (const auto& [name_view, m] : lan_.serf->members()) {
    const std::string name(name_view);
    in_pool.insert(name);
    if (m.status == gossip::SerfStatus::kLeft) {
      if (name != config_.node_name && cat.node(name) != nullptr) {
        env_->logger.info("consul", "member {} left, deregistering", name);
        propose(name, catalog::Deregister{name, "", ""});
      }
      continue;
    }
    if (m.status != gossip::SerfStatus::kAlive && m.status != gossip::SerfStatus::kFailed) {
      continue;  // leaving: it will be left soon
    }
    const bool alive = m.status == gossip::SerfStatus::kAlive;
    const auto status = alive ? catalog::HealthStatus::kPassing : catalog::HealthStatus::kCritical;
    const std::string output(alive ? kAliveOutput : kFailedOutput);
    const bool server = tag_of(m.tags, "role") == "consul";
    std::uint32_t port = 0;
    const std::string port_text = tag_of(m.tags, "port");
    std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);

    const catalog::NodeRecord* node = cat.node(name);
    const bool node_ok = node != nullptr && node->def.address == m.address.host &&
                         node->def.id == tag_of(m.tags, "id");
    bool check_ok = false;
    if (node != nullptr) {
      for (const catalog::CheckRecord* c : cat.node_checks(name).value) {
        if (c->def.check_id == kSerfCheckId) {
          check_ok = c->def.status == status && c->def.output == output;
        }
      }
    }
    const catalog::ServiceRecord* consul = node ? cat.service(name, "consul") : nullptr;
    const bool service_ok = !server || !alive || (consul != nullptr && consul->def.port == port);
    if (node_ok && check_ok && service_ok) continue;

    catalog::Register r;
    // Keep what anti-entropy registered for the node (meta, tagged addresses): only the address
    // and id come from gossip.
    if (node != nullptr) r.node = node->def;
    r.node.name = name;
    r.node.id = tag_of(m.tags, "id");
    r.node.address = m.address.host;
    if (server && alive) {
      catalog::ServiceDef svc;
      svc.id = "consul";
      svc.name = "consul";
      svc.port = port;
      svc.meta = {
          {"raft_version", tag_of(m.tags, "raft_vsn")},
          {"serf_protocol_current", "2"},
          {"serf_protocol_max", "5"},
          {"serf_protocol_min", "1"},
          {"version", tag_of(m.tags, "build").substr(0, tag_of(m.tags, "build").find(':'))}};
      r.service = std::move(svc);
    }
    catalog::CheckDef check;
    check.node = name;
    check.check_id = std::string(kSerfCheckId);
    check.name = std::string(kSerfCheckName);
    check.status = status;
    check.output = output;
    r.checks.push_back(std::move(check));
    propose(name, std::move(r));
  }
  // Reaped members: nodes that gossip registered (they carry serfHealth) but the pool no longer
  // knows. Nodes registered through /v1/catalog/register without serfHealth are left alone, as
  // Consul leaves them.
  for (const catalog::NodeRecord* n : cat.nodes({}).value) {
    const std::string& name = n->def.name;
    if (in_pool.contains(name) || name == config_.node_name) continue;
    for (const catalog::CheckRecord* c : cat.node_checks(name).value) {
      if (c->def.check_id == kSerfCheckId) {
        env_->logger.info("consul", "member {} is no longer in the pool, deregistering", name);
        propose(name, catalog::Deregister{name, "", ""});
        break;
      }
    }
  }
  if (proposed) drive_raft();
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
