// Randomized safety and liveness of the Raft core on the in-test cluster: RapidCheck generates a
// seed, a cluster size (3 or 5) and a schedule of faults and client operations (message drops,
// reordering, partitions, crashes with restart from persisted state, compactions, proposals).
// Cluster::check_invariants runs after every input: at most one leader per term, log matching,
// leader completeness, committed entries never change, identical applied prefixes, and every
// node's own check_invariants(). After the schedule, faults stop: the cluster must elect a leader
// and commit a new entry within 10 election timeouts.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "tests/core/raft/cluster.hpp"

namespace praetor::raft::test {
namespace {

Config property_config() {
  Config c;
  c.election_timeout = Duration::milliseconds(1000);
  c.heartbeat_interval = Duration::milliseconds(100);
  c.max_entries_per_append = 4;
  c.max_inflight_appends = 4;
  c.snapshot_chunk_bytes = 128;
  return c;
}

enum class OpKind {
  kTickAll,
  kTick,
  kDeliverAll,
  kDeliverOne,
  kReadyAll,
  kReadyOne,
  kDropOne,
  kPartition,
  kHeal,
  kCrash,
  kRestart,
  kPropose,
  kCompact,
  kCampaign,
  kReadIndex
};

// Op frequencies out of 100: mostly the network and the disks working and time passing, some
// client load, and a steady trickle of faults. Readies wait for a kReady* op, as with a slow
// disk, so crashes can hit a node with unpersisted state.
OpKind op_kind(std::uint32_t bucket) {
  struct Band {
    std::uint32_t below;
    OpKind kind;
  };
  static constexpr Band kBands[] = {
      {18, OpKind::kDeliverAll}, {28, OpKind::kDeliverOne}, {42, OpKind::kReadyAll},
      {46, OpKind::kReadyOne},   {60, OpKind::kTickAll},    {63, OpKind::kTick},
      {77, OpKind::kPropose},    {81, OpKind::kDropOne},    {84, OpKind::kPartition},
      {88, OpKind::kHeal},       {90, OpKind::kCrash},      {94, OpKind::kRestart},
      {96, OpKind::kCompact},    {98, OpKind::kCampaign},   {100, OpKind::kReadIndex}};
  for (const Band& b : kBands) {
    if (bucket < b.below) return b.kind;
  }
  return OpKind::kReadIndex;
}

bool is_fault(OpKind kind) {
  return kind == OpKind::kDeliverOne || kind == OpKind::kDropOne || kind == OpKind::kPartition ||
         kind == OpKind::kCrash || kind == OpKind::kCompact || kind == OpKind::kCampaign;
}

// Runs one op; `op` packs the kind (mod 100) in its low digits and arguments above. Swarm
// testing: each run disables a random subset of the fault kinds (bit k of `disabled` for
// OpKind k), so some runs hammer one fault while others see a mix.
void run_op(Cluster& c, std::uint32_t op, std::uint32_t disabled, std::uint64_t& proposals) {
  OpKind kind = op_kind(op % 100);
  if (is_fault(kind) && ((disabled >> static_cast<unsigned>(kind)) & 1) != 0) {
    kind = OpKind::kDeliverAll;
  }
  const std::uint32_t arg = op / 100;
  const std::vector<NodeId> ids = c.ids();
  NodeId node = ids[arg % ids.size()];
  switch (kind) {
    case OpKind::kTickAll:
      for (NodeId id : ids) c.tick(id, 1);
      break;
    case OpKind::kTick:
      c.tick(node, 1 + (arg / 8) % 8);
      break;
    case OpKind::kDeliverAll:
      c.deliver();
      break;
    case OpKind::kDeliverOne:
      c.deliver_one(arg);
      break;
    case OpKind::kDropOne:
      if (c.queued() > 0) c.queue().erase(c.queue().begin() + (arg % c.queued()));
      break;
    case OpKind::kPartition: {
      std::set<NodeId> a, b;
      for (std::size_t i = 0; i < ids.size(); ++i) ((arg >> i) & 1 ? a : b).insert(ids[i]);
      c.heal();
      c.partition(a, b);
      break;
    }
    case OpKind::kHeal:
      c.heal();
      break;
    case OpKind::kCrash:
      // Sometimes in the middle of handling a Ready: before or after persisting it.
      if (c.is_up(node)) {
        if (arg % 3 == 0) {
          c.crash(node);
        } else {
          c.crash_during_ready(node, arg % 3 == 2);
        }
      }
      break;
    case OpKind::kReadyAll:
      for (NodeId id : ids) {
        while (c.process_ready(id)) {
        }
      }
      break;
    case OpKind::kReadyOne:
      c.process_ready(node);
      break;
    case OpKind::kRestart:
      for (NodeId id : ids) {
        if (!c.is_up(id)) {
          c.restart(id);
          break;
        }
      }
      break;
    case OpKind::kPropose:
      // Mostly to the leader, as a client that follows leader hints would.
      if (auto leader = c.leader(); leader && arg % 4 != 0) node = *leader;
      if (c.is_up(node)) {
        Node& n = c.node(node);
        (void)n.raft->propose(n.now, to_bytes(fmt::format("v{}", ++proposals)));
        c.check_invariants();
      }
      break;
    case OpKind::kCompact:
      if (c.is_up(node)) {
        const LogIndex applied = c.node(node).raft->log().applied();
        if (applied > c.node(node).raft->log().snapshot().index) (void)c.compact(node, applied);
      }
      break;
    case OpKind::kCampaign:
      if (c.is_up(node)) c.campaign(node);
      break;
    case OpKind::kReadIndex:
      if (c.is_up(node)) {
        Node& n = c.node(node);
        (void)n.raft->read_index(n.now, ReadId(arg));
        c.check_invariants();
      }
      break;
  }
}

// Phase 2: no more faults. Within 10 election timeouts there must be a leader that commits a
// fresh entry.
void check_liveness(Cluster& c, const Config& config) {
  c.heal();
  for (NodeId id : c.ids()) {
    if (!c.is_up(id)) c.restart(id);
  }
  const std::int64_t budget_ticks =
      10 * (config.election_timeout.count_ns() / config.heartbeat_interval.count_ns());
  std::optional<std::pair<NodeId, LogIndex>> proposed;
  for (std::int64_t t = 0; t < budget_ticks; ++t) {
    for (NodeId id : c.ids()) c.tick(id, 1);
    c.stabilize();
    if (!proposed) {
      if (auto leader = c.leader()) {
        Node& n = c.node(*leader);
        auto r = n.raft->propose(n.now, to_bytes("liveness"));
        if (r) proposed = std::pair(*leader, *r);
        c.stabilize();
      }
    }
    if (proposed) {
      auto it = c.committed_history().find(proposed->second);
      if (it != c.committed_history().end() && it->second.data == to_bytes("liveness")) return;
      if (!c.node(proposed->first).raft || c.node(proposed->first).raft->role() != Role::kLeader) {
        proposed.reset();  // leadership moved before the commit: propose again
      }
    }
  }
  RC_FAIL("no leader committed an entry within 10 election timeouts after healing");
}

RC_GTEST_PROP(RaftProperty, SafetyUnderFaultsAndLivenessAfterHealing, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  const auto size = *rc::gen::element<std::size_t>(3, 5);
  const auto disabled = *rc::gen::arbitrary<std::uint32_t>();
  const auto ops = *rc::gen::container<std::vector<std::uint32_t>>(
      200 + *rc::gen::inRange<std::size_t>(0, 600), rc::gen::arbitrary<std::uint32_t>());
  Config config = property_config();
  // Swarm over flow control too: one entry per append makes partially replicated batches, the
  // situation of Raft's Figure 8, far more likely.
  config.max_entries_per_append = *rc::gen::element<std::size_t>(1, 4);
  config.max_inflight_appends = *rc::gen::element<std::size_t>(1, 4);
  Cluster c(config, seed, /*render=*/false);
  c.add_nodes(size, true);
  std::uint64_t proposals = 0;
  try {
    for (std::uint32_t op : ops) run_op(c, op, disabled, proposals);
    RC_CLASSIFY(c.committed_history().size() > 5, "more than 5 entries committed under faults");
    RC_CLASSIFY(ops.size() > 500, "more than 500 ops");
    check_liveness(c, config);
  } catch (const std::runtime_error& e) {
    RC_FAIL(e.what());
  }
}

}  // namespace
}  // namespace praetor::raft::test
