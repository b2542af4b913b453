// The server role: Raft under the catalog. One Ready at a time: persist (WAL, fsync) -> send ->
// apply committed entries -> answer the requests that proposed them -> advance. See
// core/raft/ready.hpp for the ordering rules this follows.
#include <fmt/format.h>

#include "core/node/agent.hpp"
#include "core/raft/codec.hpp"

namespace praetor::node {
namespace {

raft::Config raft_config(const AgentConfig& config, NodeId id) {
  raft::Config rc;
  rc.id = id;
  // Consul's timing: 1 s election and heartbeat timeouts per unit of raft_multiplier; our core
  // sends heartbeats at a tenth of the election timeout.
  const int multiplier = std::max(1, config.raft_multiplier);
  rc.election_timeout = Duration::milliseconds(1000) * multiplier;
  rc.heartbeat_interval = Duration::milliseconds(100) * multiplier;
  return rc;
}

}  // namespace

NodeId raft_node_id(std::string_view node_uuid) {
  const std::uint64_t h = fnv1a64(node_uuid);
  return NodeId(h == 0 ? 1 : h);
}

void Agent::start_server(const StoredFiles& files) {
  auto& log = env_->logger;
  raft_id_ = raft_node_id(node_id_);
  persist_raft_ = !config_.dev;
  auto recovered = RaftStorage::recover(persist_raft_ ? files : StoredFiles{});
  if (!recovered) {
    // Storage errors name files relative to the data dir; say where that is.
    log.error("agent", "refusing to start: {}/{}", config_.data_dir, recovered.error().message);
    stopping_ = true;
    env_->control.shutdown(1);
    return;
  }
  if (recovered->torn_tail_cut) log.warn("raft", "cut a torn write at the end of the log");
  raft::PersistentState state = std::move(recovered->state);
  const bool bootstrap = config_.dev || config_.bootstrap || config_.bootstrap_expect == 1;
  if (!recovered->found && bootstrap) {
    raft::Membership membership;
    membership.voters.insert(raft_id_);
    state = raft::PersistentState::bootstrap(membership);
    log.info("raft", "bootstrapping a new cluster: {} is its only voter", server_address());
    if (persist_raft_) {
      // The initial membership lives in the index-0 snapshot meta: persist it, or a restart
      // would find a log with no voters. Batches are applied in order, so it is durable before
      // anything Raft writes next.
      env_->storage.write(recovered->storage.save_snapshot(state.snapshot), next_ticket_);
      next_ticket_ = next_ticket_.next();
    }
  }
  snapshot_index_ = state.snapshot.meta.index;
  if (state.snapshot.meta.index > LogIndex(0)) {
    auto restored = fsm_.restore(state.snapshot.data);
    if (!restored) {
      log.error("agent", "refusing to start: snapshot: {}", restored.error().message);
      stopping_ = true;
      env_->control.shutdown(1);
      return;
    }
  }
  raft_storage_.emplace(std::move(recovered->storage));
  load_servers(files);
  const bool has_state = recovered->found || bootstrap;
  restore_raft(std::move(state));
  if (!raft_) return;
  if (!has_state) {
    log.info("agent", "waiting for {} servers (bootstrap_expect) or an existing cluster",
             config_.bootstrap_expect);
  }
  maybe_bootstrap_expect();
  drive_raft();
}

void Agent::restore_raft(raft::PersistentState state) {
  if (!raft_log_) {
    raft_log_.emplace(env_->logger, [this](std::uint64_t id) -> std::optional<std::string> {
      if (NodeId(id) == raft_id_) return config_.node_name;
      auto it = servers_.find(NodeId(id));
      if (it == servers_.end()) return std::nullopt;
      return it->second.name;
    });
  }
  auto raft = raft::Raft::restore(raft_config(config_, raft_id_), std::move(state), rng_.fork(),
                                  *raft_log_);
  if (!raft) {
    env_->logger.error("agent", "refusing to start: {}", raft.error().message);
    stopping_ = true;
    env_->control.shutdown(1);
    return;
  }
  raft_.emplace(std::move(raft.value()));
  env_->logger.info("raft", "Node at {} [Follower] entering Follower state (Leader: \"\")",
                    server_address());
  const Instant now = env_->clock.now();
  // A lone voter need not wait out an election timeout: Consul's -dev leads at once.
  if (raft_->status().membership.voters == std::set<NodeId>{raft_id_}) raft_->campaign(now);
  raft_->advance_time(now);
  drive_raft();
}

bool Agent::raft_has_member(std::string_view node_uuid) const {
  return raft_ && raft_->status().membership.contains(raft_node_id(node_uuid));
}

bool Agent::is_leader() const { return raft_ && raft_->role() == raft::Role::kLeader; }

std::size_t Agent::raft_peer_count() const {
  if (!raft_) return 0;
  const std::size_t members = raft_->status().membership.all().size();
  return members == 0 ? 0 : members - 1;
}

namespace {

// Raft thesis §10.2.1: a leader may send its log to followers while it writes the same entries
// to its own disk, because the core counts the leader toward a commit quorum only once advance()
// reports them durable. So a leader's appends and heartbeats need not wait for its fsync, as long
// as this Ready does not change the term or vote they are sent under (those must be durable
// first: a vote or a term must never be forgotten after a message that relied on it). Everything
// else (votes, acknowledgements of appends and snapshots) waits for the fsync.
bool may_send_before_sync(const raft::Ready& ready, const raft::HardState& durable,
                          const raft::Message& m) {
  if (ready.snapshot) return false;
  if (ready.hard_state &&
      (ready.hard_state->term != durable.term || ready.hard_state->vote != durable.vote)) {
    return false;
  }
  return m.term == durable.term &&
         (m.kind == raft::MessageKind::kAppend || m.kind == raft::MessageKind::kHeartbeat);
}

}  // namespace

void Agent::drive_raft() {
  if (!raft_) return;
  if (ready_in_flight_ && !stopping_) {
    // Our write is still syncing, but followers may already have committed what we proposed:
    // answer those clients now rather than one fsync later.
    std::vector<raft::Entry> committed = raft_->take_committed_in_flight();
    for (const raft::Entry& e : committed) apply_committed(e);
    if (!committed.empty()) {
      serve_ready_reads();
      wake_parked(env_->clock.now(), false);
    }
  }
  // The loop also starts the next shared ReadIndex round once the previous one has completed
  // (cluster.cpp, D44), and takes the Ready that sends it.
  while (!ready_in_flight_ && !stopping_ && (raft_->has_ready() || start_read_batch())) {
    raft::Ready ready = raft_->take_ready();
    std::optional<WriteBatch> batch;
    raft::HardState durable;
    if (persist_raft_) {
      durable = raft_storage_->hard_state();  // term and vote as of the last synced batch
      batch = raft_storage_->persist(ready);
    }
    if (batch) {
      PRAETOR_ASSERT(batch->sync);
      // Group commit: while this batch syncs, new proposals gather in Raft for the next Ready.
      // What does not depend on this batch's durability happens now; on_written finishes the
      // Ready (the rest of the messages, advance).
      start_ready(ready, /*syncing=*/true, durable);
      ready_ticket_ = next_ticket_;
      next_ticket_ = next_ticket_.next();
      ready_in_flight_ = std::move(ready);
      env_->storage.write(std::move(*batch), ready_ticket_);
      break;
    }
    start_ready(ready, /*syncing=*/false, durable);
    finish_ready(std::move(ready));
  }
  sync_session_timers();
  arm_timer();
}

void Agent::send_raft_message(const raft::Message& m) {
  auto address = address_of(m.to);
  if (!address) {
    env_->logger.debug("raft", "no address for node {}: dropped {}", m.to,
                       raft::message_kind_name(m.kind));
    return;
  }
  send_rpc(*address, RaftPayload{raft::encode_message(m)});
}

void Agent::start_ready(raft::Ready& ready, bool syncing, const raft::HardState& durable) {
  // A snapshot must be installed before anything else of its Ready: finish_ready does it all.
  if (ready.snapshot) return;
  if (ready.role) {
    on_role_change(*ready.role);
    ready.role.reset();
  }
  std::vector<raft::Message> later;
  for (raft::Message& m : ready.messages) {
    if (!syncing || may_send_before_sync(ready, durable, m)) {
      send_raft_message(m);
    } else {
      later.push_back(std::move(m));
    }
  }
  ready.messages = std::move(later);
  // Committed entries are durable on a quorum whatever this node's own write is doing, so they
  // are applied and their requests answered now (acknowledged after a majority fsynced them).
  // advance() still reports them applied only with the whole Ready.
  for (const raft::Entry& e : ready.committed) apply_committed(e);
  take_reads(ready);
  serve_ready_reads();
  if (!ready.committed.empty()) wake_parked(env_->clock.now(), false);
}

// A ReadState or an abort names a round (cluster.cpp, D44): it releases or fails every read
// that rode on it.
void Agent::take_reads(raft::Ready& ready) {
  for (const raft::ReadState& r : ready.reads) {
    for (auto& [read, pending] : reads_) {
      if (pending.batch == r.id.value()) pending.index = r.index;
    }
    if (read_batch_ == r.id.value()) read_batch_ = 0;
  }
  for (raft::ReadId aborted : ready.reads_aborted) {
    for (auto it = reads_.begin(); it != reads_.end();) {
      if (it->second.batch == aborted.value()) {
        respond(it->second.request, HttpResponse::text(500, "leadership lost while reading"));
        it = reads_.erase(it);
      } else {
        ++it;
      }
    }
    if (read_batch_ == aborted.value()) read_batch_ = 0;
  }
  ready.reads.clear();
  ready.reads_aborted.clear();
}

void Agent::finish_ready(raft::Ready ready) {
  if (!ready.snapshot) {
    // start_ready did the rest: what is left are the messages that waited for the sync.
    for (const raft::Message& m : ready.messages) send_raft_message(m);
    raft_->advance(ready);
    maybe_compact();
    return;
  }
  auto restored = fsm_.restore(ready.snapshot->data);
  // The leader's snapshot passed its checksum and decoded there; failing here means we would
  // diverge.
  PRAETOR_ASSERT_MSG(restored.has_value(), "installing snapshot {} failed: {}",
                     ready.snapshot->meta.index, restored ? "" : restored.error().message);
  // The catalog was replaced wholesale: no rendered answer is known to match it any more.
  render_cache_.clear();
  if (ready.role) on_role_change(*ready.role);
  for (const raft::Message& m : ready.messages) send_raft_message(m);
  for (const raft::Entry& e : ready.committed) apply_committed(e);
  take_reads(ready);
  snapshot_index_ = ready.snapshot->meta.index;
  raft_->advance(ready);
  maybe_compact();
  serve_ready_reads();
  if (!ready.committed.empty()) wake_parked(env_->clock.now(), false);
}

void Agent::apply_committed(const raft::Entry& entry) {
  if (reconcile_unsettled_) schedule_reconcile(env_->clock.now());
  // Every entry moves the FSM's applied index; only normal entries carry catalog commands.
  catalog::ApplyResult result;
  if (entry.type == raft::EntryType::kNormal) {
    result = fsm_.apply(entry.index, entry.data, env_->clock.now());
  } else {
    result = fsm_.apply_command(entry.index, catalog::Noop{});
  }
  auto it = pending_.find(entry.index);
  if (it == pending_.end()) return;
  Pending pending = std::move(it->second);
  pending_.erase(it);
  if (pending.term != entry.term) {
    // Another leader's entry took this index: ours was never committed.
    respond(pending.request, HttpResponse::text(500, "leadership lost while committing log"));
    return;
  }
  HttpResponse response = pending.answer ? pending.answer(result)
                          : !result.error.empty()
                              ? HttpResponse::text(500, result.error)
                              : HttpResponse::json(200, result.success ? "true" : "false");
  decorate(response, entry.index.value());
  respond(pending.request, std::move(response));
}

void Agent::maybe_compact() {
  const LogIndex applied = fsm_.applied_index();
  if (applied.value() < snapshot_index_.value() + config_.raft_snapshot_threshold) return;
  // The catalog's image at `applied` replaces the log up to it (Raft §7). Followers that fall
  // behind it catch up through InstallSnapshot.
  Bytes image = fsm_.snapshot();
  auto compacted = raft_->compact(applied, image);
  if (!compacted) {
    env_->logger.warn("raft", "compaction at {} refused: {}", applied, compacted.error().message);
    return;
  }
  snapshot_index_ = applied;
  if (persist_raft_) {
    raft::Snapshot snapshot;
    snapshot.meta = raft_->log().snapshot();  // the meta Raft recorded for this compaction
    PRAETOR_ASSERT(snapshot.meta.index == applied);
    snapshot.data = std::move(image);
    env_->storage.write(raft_storage_->save_snapshot(snapshot), next_ticket_);
    next_ticket_ = next_ticket_.next();
  }
  env_->logger.info("raft", "snapshot taken at index {}; log compacted", applied);
}

void Agent::on_role_change(const raft::SoftState& soft) {
  auto& log = env_->logger;
  const std::string addr = server_address();
  const bool had_leader = known_leader_ != raft::kNoNode;
  if (soft.leader != known_leader_) {
    // Requests forwarded to the old leader may or may not have committed; their clients retry.
    fail_forwards("leadership lost while committing log");
    if (soft.leader != raft::kNoNode) {
      std::string name = config_.node_name;
      if (auto it = servers_.find(soft.leader); it != servers_.end()) name = it->second.name;
      log.info("consul", "New leader elected: {}", name);
    }
  }
  known_leader_ = soft.leader;
  session_ttl_role_change(soft.role == raft::Role::kLeader);
  if (soft.role != raft::Role::kLeader && !pending_.empty()) {
    // Stepping down: whether our uncommitted entries survive is up to the next leader, so their
    // clients learn that the outcome is unknown (Consul answers the same) and may retry.
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [index, p] : pending) {
      respond(p.request, HttpResponse::text(500, "leadership lost while committing log"));
    }
  }
  switch (soft.role) {
    case raft::Role::kLeader:
      log.info("raft", "Node at {} [Leader] entering Leader state", addr);
      log.info("consul", "cluster leadership acquired");
      reconcile_inflight_.clear();  // another leader's proposals are not ours to wait for
      schedule_reconcile(env_->clock.now());
      break;
    case raft::Role::kCandidate:
      log.info("raft", "Node at {} [Candidate] entering Candidate state in term {}", addr,
               soft.term);
      break;
    case raft::Role::kFollower:
      log.info("raft", "Node at {} [Follower] entering Follower state (term {})", addr, soft.term);
      break;
    case raft::Role::kPreCandidate:
      break;
  }
  if (had_leader && soft.leader == raft::kNoNode) log.warn("raft", "lost contact with the leader");
}

}  // namespace praetor::node
