// The Raft state machine. Control flow: step() checks the term once (check_term), then switches
// on the message kind and role to a handler named after the protocol. Timers (advance_time) and
// local commands (propose, campaign, ...) go through the same role transitions, so a recorded
// sequence of inputs replays a node exactly.
#include "core/raft/raft.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "core/base/assert.hpp"
#include "core/raft/codec.hpp"
#include "core/raft/format.hpp"
#include "core/raft/quorum.hpp"

namespace praetor::raft {
namespace {

constexpr std::string_view kSubsystem = "raft";

std::string node_or_none(NodeId id) {
  return id == kNoNode ? std::string("none") : fmt::format("{}", id.value());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction and restore

Raft::Raft(const Config& config, Rng rng, Logger& logger)
    : config_(config), rng_(rng), logger_(&logger) {}

Result<Raft> Raft::restore(const Config& config, PersistentState state, Rng rng, Logger& logger) {
  PRAETOR_TRY_VOID(config.validate());
  const SnapshotMeta& meta = state.snapshot.meta;
  for (std::size_t i = 0; i < state.entries.size(); ++i) {
    const Entry& e = state.entries[i];
    const Term prev = i == 0 ? meta.term : state.entries[i - 1].term;
    if (e.index.value() != meta.index.value() + 1 + i || e.term < prev) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("raft log is not contiguous at entry {}", i));
    }
    if (e.type == EntryType::kConfig && !decode_membership(e.data)) {
      return make_error(ErrorCode::kCorruption, fmt::format("bad config entry {}", e.index));
    }
  }
  const LogIndex last(meta.index.value() + state.entries.size());
  const HardState& hs = state.hard_state;
  if (hs.commit > last) {
    return make_error(ErrorCode::kCorruption,
                      fmt::format("commit {} beyond last index {}", hs.commit, last));
  }
  if (hs.vote != kNoNode && hs.term == Term(0)) {
    return make_error(ErrorCode::kCorruption, "vote cast without a term");
  }
  const Term last_term = state.entries.empty() ? meta.term : state.entries.back().term;
  if (last_term > hs.term) {
    return make_error(ErrorCode::kCorruption, "log has entries from a term beyond the current");
  }

  Raft r(config, rng, logger);
  r.log_ = RaftLog(meta, std::move(state.entries), hs.commit);
  r.term_ = hs.term;
  r.vote_ = hs.vote;
  r.snapshot_ = std::move(state.snapshot);
  r.last_hard_state_ = HardState{r.term_, r.vote_, r.log_.committed()};
  r.last_soft_state_ = SoftState{Role::kFollower, r.term_, kNoNode};
  logger.info(kSubsystem, "node {}: initial configuration: index={} {}", config.id,
              r.log_.membership_index(), r.log_.membership());
  logger.info(kSubsystem, "node {}: entering Follower state in term {} (leader: none)", config.id,
              r.term_);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Time

void Raft::observe(Instant now) {
  PRAETOR_ASSERT_MSG(now >= now_, "time went backwards: {} < {}", now, now_);
  now_ = now;
  if (!started_) {
    started_ = true;
    reset_election_deadline(now);
  }
}

void Raft::reset_election_deadline(Instant now) {
  if (role_ == Role::kLeader || !is_voter()) {
    election_deadline_ = Instant::never();
    return;
  }
  // Raft §5.2: a randomized timeout in [T, 2T) makes split votes rare.
  const Duration t = config_.election_timeout;
  election_deadline_ = now + t + rng_.between(Duration::zero(), t - Duration::nanoseconds(1));
}

void Raft::advance_time(Instant now) {
  observe(now);
  if (role_ == Role::kLeader) {
    if (now >= check_quorum_deadline_) on_check_quorum_timeout(now);
    if (role_ == Role::kLeader && now >= transfer_deadline_) {
      abort_transfer("timed out");
    }
    if (role_ == Role::kLeader && now >= heartbeat_deadline_) on_heartbeat_timeout(now);
    return;
  }
  if (now >= election_deadline_) {
    logger_->info(kSubsystem,
                  "node {}: heartbeat timeout reached, starting election (last leader: {})", id(),
                  node_or_none(leader_));
    start_election(now, config_.pre_vote, false);
  }
}

Instant Raft::next_deadline() const {
  if (!started_) return Instant::zero();  // "call advance_time() now" to start the timers
  return std::min(
      {election_deadline_, heartbeat_deadline_, check_quorum_deadline_, transfer_deadline_});
}

bool Raft::in_lease(Instant now) const {
  // Raft thesis §4.2.3: a follower that heard from a live leader within the minimum election
  // timeout ignores vote requests, so a node returning from a partition cannot depose it.
  // A leader with CheckQuorum is in lease by construction: it steps down once it loses contact.
  if (!config_.check_quorum || leader_ == kNoNode) return false;
  if (role_ == Role::kLeader) return true;
  return role_ == Role::kFollower && !leader_contact_.is_never() &&
         now - leader_contact_ < config_.election_timeout;
}

// ---------------------------------------------------------------------------------------------
// Role transitions

void Raft::become_follower(Instant now, Term term, NodeId leader) {
  const bool was_leader = role_ == Role::kLeader;
  const bool announce = role_ != Role::kFollower || term != term_;
  if (term > term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::kFollower;
  votes_.clear();
  progress_.clear();
  heartbeat_deadline_ = Instant::never();
  check_quorum_deadline_ = Instant::never();
  if (transferee_ != kNoNode) {
    transferee_ = kNoNode;
    transfer_deadline_ = Instant::never();
  }
  if (was_leader) abort_reads();
  if (announce) {
    logger_->info(kSubsystem, "node {}: entering Follower state in term {} (leader: {})", id(),
                  term_, node_or_none(leader));
  }
  set_leader(now, leader);
  reset_election_deadline(now);
}

void Raft::set_leader(Instant now, NodeId leader) {
  if (leader != kNoNode) leader_contact_ = now;
  if (leader == leader_) return;
  leader_ = leader;
  if (leader != kNoNode && leader != id()) {
    logger_->info(kSubsystem, "node {}: New leader elected: leader={} term={}", id(), leader,
                  term_);
  }
}

void Raft::become_pre_candidate(Instant now) {
  // Pre-vote changes neither term nor vote: a node that cannot win leaves no trace.
  role_ = Role::kPreCandidate;
  votes_.clear();
  leader_ = kNoNode;
  reset_election_deadline(now);
  logger_->info(kSubsystem, "node {}: entering PreCandidate state for term {}", id(), term_.next());
}

void Raft::become_candidate(Instant now) {
  role_ = Role::kCandidate;
  term_ = term_.next();
  vote_ = id();
  votes_.clear();
  leader_ = kNoNode;
  reset_election_deadline(now);
  logger_->info(kSubsystem, "node {}: entering Candidate state in term {}", id(), term_);
}

void Raft::become_leader(Instant now) {
  PRAETOR_ASSERT(role_ == Role::kCandidate);
  role_ = Role::kLeader;
  leader_ = id();
  votes_.clear();
  election_deadline_ = Instant::never();
  heartbeat_deadline_ = now + config_.heartbeat_interval;
  check_quorum_deadline_ = config_.check_quorum ? now + config_.election_timeout : Instant::never();
  progress_.clear();
  sync_progress();
  logger_->info(kSubsystem, "node {}: entering Leader state in term {}", id(), term_);
  // Raft §8 / thesis §6.4: a no-op of the new term lets the leader learn the commit index and
  // commit earlier terms' entries (which it must never count directly, Figure 8).
  append_entry(EntryType::kNoop, {});
  broadcast_append();
}

void Raft::start_election(Instant now, bool pre_vote, bool transfer) {
  if (!is_voter()) {
    logger_->warn(kSubsystem, "node {}: not a voter in the latest configuration, not campaigning",
                  id());
    return;
  }
  if (pre_vote) {
    become_pre_candidate(now);
  } else {
    become_candidate(now);
  }
  votes_[id()] = true;
  if (tally_votes(log_.membership().voters, votes_) == VoteResult::kWon) {
    if (pre_vote) {
      start_election(now, false, transfer);
    } else {
      logger_->info(kSubsystem, "node {}: election won: term={} tally=1", id(), term_);
      become_leader(now);
    }
    return;
  }
  const Term term = pre_vote ? term_.next() : term_;
  for (NodeId voter : log_.membership().voters) {
    if (voter == id()) continue;
    Message m;
    m.kind = pre_vote ? MessageKind::kPreVote : MessageKind::kVote;
    m.to = voter;
    m.term = term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    m.transfer = transfer;
    send(std::move(m));
  }
}

void Raft::campaign(Instant now) {
  observe(now);
  if (role_ == Role::kLeader) {
    logger_->debug(kSubsystem, "node {}: already leader, ignoring campaign", id());
    return;
  }
  start_election(now, config_.pre_vote, false);
}

// ---------------------------------------------------------------------------------------------
// Message dispatch

void Raft::step(Instant now, const Message& m) {
  observe(now);
  if (m.to != id() || m.from == id() || m.from == kNoNode) {
    logger_->debug(kSubsystem, "node {}: dropping misaddressed {}", id(), m);
    return;
  }
  if (!check_term(now, m)) return;
  switch (m.kind) {
    case MessageKind::kPreVote:
    case MessageKind::kVote:
      handle_vote_request(now, m);
      break;
    case MessageKind::kPreVoteResponse:
      if (role_ == Role::kPreCandidate) handle_vote_response(now, m);
      break;
    case MessageKind::kVoteResponse:
      if (role_ == Role::kCandidate) handle_vote_response(now, m);
      break;
    case MessageKind::kAppend:
      if (role_ == Role::kFollower) handle_append(now, m);
      break;
    case MessageKind::kAppendResponse:
      if (role_ == Role::kLeader) handle_append_response(now, m);
      break;
    case MessageKind::kHeartbeat:
      if (role_ == Role::kFollower) handle_heartbeat(now, m);
      break;
    case MessageKind::kHeartbeatResponse:
      if (role_ == Role::kLeader) handle_heartbeat_response(now, m);
      break;
    case MessageKind::kInstallSnapshot:
      if (role_ == Role::kFollower) handle_install_snapshot(now, m);
      break;
    case MessageKind::kInstallSnapshotResponse:
      if (role_ == Role::kLeader) handle_install_snapshot_response(now, m);
      break;
    case MessageKind::kTimeoutNow:
      if (role_ == Role::kFollower) handle_timeout_now(now, m);
      break;
  }
}

bool Raft::check_term(Instant now, const Message& m) {
  if (m.term > term_) {
    const bool vote_request = m.kind == MessageKind::kPreVote || m.kind == MessageKind::kVote;
    if (vote_request && !m.transfer && in_lease(now)) {
      logger_->info(kSubsystem,
                    "node {}: rejecting {} from {} for term {}: we have a leader {} (lease)", id(),
                    message_kind_name(m.kind), m.from, m.term, leader_);
      return false;
    }
    // A pre-vote asks about a future term; a granted pre-vote answers in it. Neither moves us.
    if (m.kind == MessageKind::kPreVote) return true;
    if (m.kind == MessageKind::kPreVoteResponse && !m.reject) return true;
    if (role_ != Role::kFollower) {
      logger_->info(kSubsystem, "node {}: received {} with higher term {} from {}, stepping down",
                    id(), message_kind_name(m.kind), m.term, m.from);
    }
    become_follower(now, m.term, is_from_leader(m.kind) ? m.from : kNoNode);
    return true;
  }
  if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.kind == MessageKind::kAppend || m.kind == MessageKind::kHeartbeat)) {
      // A leader cut off while we moved on: tell it our term so it steps down instead of
      // lingering (with pre-vote nobody else would ever raise its term).
      Message r;
      r.kind = MessageKind::kAppendResponse;
      r.to = m.from;
      send(std::move(r));
    } else if (m.kind == MessageKind::kPreVote) {
      Message r;
      r.kind = MessageKind::kPreVoteResponse;
      r.to = m.from;
      r.reject = true;
      send(std::move(r));
    }
    return false;
  }
  if (is_from_leader(m.kind)) {
    if (role_ == Role::kLeader) {
      logger_->warn(kSubsystem, "node {}: two leaders claim term {}: ignoring {} from {}", id(),
                    term_, message_kind_name(m.kind), m.from);
      return false;
    }
    if (role_ != Role::kFollower) become_follower(now, term_, m.from);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Elections

void Raft::handle_vote_request(Instant now, const Message& m) {
  const bool pre = m.kind == MessageKind::kPreVote;
  // Raft §5.2/§5.4.1: one vote per term, only for a log at least as up to date as ours. A
  // pre-vote for a future term is granted on the log check alone.
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  const bool up_to_date = log_.is_up_to_date(m.index, m.log_term);
  Message r;
  r.kind = pre ? MessageKind::kPreVoteResponse : MessageKind::kVoteResponse;
  r.to = m.from;
  if (can_vote && up_to_date) {
    r.term = m.term;
    if (!pre) {
      vote_ = m.from;
      reset_election_deadline(now);
    }
    logger_->debug(kSubsystem, "node {}: granting {} to {} for term {}", id(),
                   message_kind_name(m.kind), m.from, m.term);
  } else {
    r.reject = true;
    logger_->debug(kSubsystem, "node {}: rejecting {} from {} for term {} (vote {}, up to date {})",
                   id(), message_kind_name(m.kind), m.from, m.term, node_or_none(vote_),
                   up_to_date);
  }
  send(std::move(r));
}

void Raft::handle_vote_response(Instant now, const Message& m) {
  const bool pre = m.kind == MessageKind::kPreVoteResponse;
  if (pre && !m.reject && m.term != term_.next()) return;  // answer to an older pre-vote
  votes_[m.from] = !m.reject;
  const VoteResult result = tally_votes(log_.membership().voters, votes_);
  if (result == VoteResult::kWon) {
    if (pre) {
      logger_->info(kSubsystem, "node {}: pre-vote successful, starting election", id());
      start_election(now, false, false);
    } else {
      const auto tally =
          std::count_if(votes_.begin(), votes_.end(), [](const auto& v) { return v.second; });
      logger_->info(kSubsystem, "node {}: election won: term={} tally={}", id(), term_, tally);
      become_leader(now);
    }
  } else if (result == VoteResult::kLost) {
    logger_->info(kSubsystem, "node {}: {} lost in term {}", id(), pre ? "pre-vote" : "election",
                  pre ? term_.next() : term_);
    become_follower(now, term_, kNoNode);
  }
}

void Raft::handle_timeout_now(Instant now, const Message& m) {
  if (!is_voter()) return;
  logger_->info(kSubsystem, "node {}: received TimeoutNow from {}, starting election", id(),
                m.from);
  // Leadership transfer skips pre-vote: the old leader asked for this election.
  start_election(now, false, true);
}

// ---------------------------------------------------------------------------------------------
// Replication: follower side

void Raft::heard_from_leader(Instant now, NodeId leader) {
  set_leader(now, leader);
  reset_election_deadline(now);
}

void Raft::handle_append(Instant now, const Message& m) {
  heard_from_leader(now, m.from);
  Message r;
  r.kind = MessageKind::kAppendResponse;
  r.to = m.from;
  if (m.index < log_.committed()) {
    // Everything up to our commit index matches any leader's log: say how far we are.
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  const LogIndex before = log_.membership_index();
  if (auto last_new = log_.maybe_append(m.index, m.log_term, m.entries)) {
    log_.commit_to(std::min(m.commit, *last_new));
    r.index = *last_new;
    send(std::move(r));
    if (log_.membership_index() != before) on_membership_changed(now);
    return;
  }
  // Fast backtracking: point the leader at the last index whose term could still match, so it
  // skips a whole divergent term per round trip instead of one entry.
  LogIndex hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
  r.reject = true;
  r.index = m.index;
  r.hint_index = hint;
  r.hint_term = log_.term_at(hint).value_or(Term(0));
  logger_->debug(kSubsystem, "node {}: rejecting append at {}/{} from {}: hint {}/{}", id(),
                 m.index, m.log_term, m.from, r.hint_index, r.hint_term);
  send(std::move(r));
}

void Raft::handle_heartbeat(Instant now, const Message& m) {
  heard_from_leader(now, m.from);
  // The leader sends min(commit, our match): everything up to it is known to match its log.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  Message r;
  r.kind = MessageKind::kHeartbeatResponse;
  r.to = m.from;
  r.read_round = m.read_round;
  send(std::move(r));
}

void Raft::handle_install_snapshot(Instant now, const Message& m) {
  heard_from_leader(now, m.from);
  Message r;
  r.kind = MessageKind::kInstallSnapshotResponse;
  r.to = m.from;
  r.snapshot.index = m.snapshot.index;
  r.snapshot.term = m.snapshot.term;
  if (m.snapshot.index <= log_.committed()) {
    // Stale (a retransmission, or reordered behind appends): installing it would move the
    // state machine backwards. Report how far we are instead.
    logger_->info(kSubsystem, "node {}: ignoring stale snapshot at index {} (commit {})", id(),
                  m.snapshot.index, log_.committed());
    incoming_snapshot_.reset();
    r.done = true;
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  if (m.offset == 0) incoming_snapshot_ = Snapshot{m.snapshot, {}};
  const bool same = incoming_snapshot_.has_value() && incoming_snapshot_->meta == m.snapshot;
  if (!same || incoming_snapshot_->data.size() != m.offset ||
      m.offset + m.chunk.size() > kMaxSnapshotBytes) {
    r.reject = true;
    r.offset = same ? incoming_snapshot_->data.size() : 0;
    send(std::move(r));
    return;
  }
  incoming_snapshot_->data.insert(incoming_snapshot_->data.end(), m.chunk.begin(), m.chunk.end());
  r.offset = incoming_snapshot_->data.size();
  if (!m.done) {
    send(std::move(r));
    return;
  }
  Snapshot snap = std::move(*incoming_snapshot_);
  incoming_snapshot_.reset();
  if (log_.match_term(snap.meta.index, snap.meta.term)) {
    // We already hold the entries the snapshot covers: just learn that they are committed.
    log_.commit_to(snap.meta.index);
  } else {
    logger_->info(kSubsystem, "node {}: installing snapshot at index {} term {} ({} bytes)", id(),
                  snap.meta.index, snap.meta.term, snap.data.size());
    log_.restore(snap.meta);
    snapshot_ = snap;
    snapshot_to_install_ = std::move(snap);
    on_membership_changed(now);
  }
  r.done = true;
  r.index = m.snapshot.index;
  send(std::move(r));
}

void Raft::on_membership_changed(Instant now) {
  if (role_ == Role::kLeader) {
    sync_progress();
    return;
  }
  if (!is_voter()) {
    election_deadline_ = Instant::never();
    if (role_ != Role::kFollower) become_follower(now, term_, kNoNode);
  } else if (election_deadline_.is_never()) {
    reset_election_deadline(now);
  }
}

// ---------------------------------------------------------------------------------------------
// Replication: leader side

void Raft::sync_progress() {
  const Membership& members = log_.membership();
  std::erase_if(progress_, [&](const auto& p) { return !members.contains(p.first); });
  for (NodeId node : members.all()) {
    if (node == id() || progress_.count(node) != 0) continue;
    Progress pr;
    pr.next = log_.last_index().next();
    progress_.emplace(node, pr);
  }
  if (transferee_ != kNoNode && !members.is_voter(transferee_)) abort_transfer("target removed");
}

void Raft::append_entry(EntryType type, Bytes data) {
  Entry e;
  e.term = term_;
  e.index = log_.last_index().next();
  e.type = type;
  e.data = std::move(data);
  log_.append(std::move(e));
  if (type == EntryType::kConfig) on_membership_changed(now_);
}

void Raft::send(Message m) {
  m.from = id();
  if (m.term == Term(0)) m.term = term_;
  msgs_.push_back(std::move(m));
}

bool Raft::send_append(NodeId to, bool allow_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  Progress& pr = it->second;
  if (pr.is_paused(config_.max_inflight_appends)) return false;
  const LogIndex prev = pr.next.prev();
  const auto prev_term = log_.term_at(prev);
  if (!prev_term.has_value()) {
    // The entries this follower needs were compacted away (Raft §7).
    logger_->info(kSubsystem, "node {}: sending snapshot at index {} to {} (next {})", id(),
                  snapshot_.meta.index, to, pr.next);
    pr.become_snapshot(snapshot_.meta.index);
    send_snapshot_chunk(to, pr);
    return true;
  }
  std::vector<Entry> entries;
  if (pr.next <= log_.last_index()) {
    entries = log_.slice(pr.next, config_.max_entries_per_append, config_.max_bytes_per_append);
  }
  if (entries.empty() && !allow_empty) return false;
  Message m;
  m.kind = MessageKind::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  const std::size_t count = entries.size();
  m.entries = std::move(entries);
  pr.sent_append(LogIndex(prev.value() + count), count);
  send(std::move(m));
  return true;
}

void Raft::send_snapshot_chunk(NodeId to, Progress& pr) {
  if (pr.snapshot_index != snapshot_.meta.index) pr.become_snapshot(snapshot_.meta.index);
  const Bytes& data = snapshot_.data;
  const std::size_t offset = std::min<std::size_t>(pr.snapshot_offset, data.size());
  const std::size_t n = std::min(config_.snapshot_chunk_bytes, data.size() - offset);
  Message m;
  m.kind = MessageKind::kInstallSnapshot;
  m.to = to;
  m.snapshot = snapshot_.meta;
  m.offset = offset;
  m.chunk.assign(data.begin() + static_cast<std::ptrdiff_t>(offset),
                 data.begin() + static_cast<std::ptrdiff_t>(offset + n));
  m.done = offset + n == data.size();
  pr.chunk_sent = true;
  send(std::move(m));
}

void Raft::broadcast_append() {
  for (auto& [node, pr] : progress_) {
    (void)pr;
    send_append(node, false);
  }
}

void Raft::flush_appends() {
  const bool append = std::exchange(append_pending_, false);
  const bool notice = std::exchange(commit_notice_pending_, false);
  if (role_ != Role::kLeader) return;
  // Appends already queued for this Ready carry the commit index as it is now: any index up to
  // the leader's commit is true of the entries an append carries (the follower takes the minimum
  // with the last entry it matched), and later is better.
  std::set<NodeId> has_append;
  for (Message& m : msgs_) {
    if (m.kind != MessageKind::kAppend || m.term != term_) continue;
    m.commit = std::max(m.commit, log_.committed());
    has_append.insert(m.to);
  }
  for (auto& [node, pr] : progress_) {
    (void)pr;
    if (append) {
      while (send_append(node, false)) has_append.insert(node);
    }
    if (notice && has_append.count(node) == 0) send_append(node, true);
  }
}

void Raft::broadcast_heartbeat() {
  for (const auto& [node, pr] : progress_) {
    Message m;
    m.kind = MessageKind::kHeartbeat;
    m.to = node;
    m.commit = std::min(pr.match, log_.committed());
    m.read_round = read_round_;
    send(std::move(m));
  }
}

void Raft::handle_append_response(Instant now, const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    const LogIndex next_hint = log_.find_conflict_by_term(m.hint_index, m.hint_term);
    if (pr.maybe_decrease(m.index, next_hint)) {
      logger_->debug(kSubsystem, "node {}: {} rejected {}: retrying from {}", id(), m.from, m.index,
                     pr.next);
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      send_append(m.from, true);
    }
    return;
  }
  if (m.index > log_.last_index()) return;  // not an answer to anything we sent
  const bool was_paused = pr.is_paused(config_.max_inflight_appends);
  bool committed = false;
  if (pr.maybe_update(m.index)) {
    if (pr.state == ProgressState::kProbe) pr.become_replicate();
    if (pr.state == ProgressState::kSnapshot) pr.become_probe();
    pr.free_inflight_to(m.index);
    committed = maybe_commit();
    if (committed) after_commit_advanced(now);  // also tells every follower the commit index
  }
  if (role_ != Role::kLeader) return;
  // A follower we held back may have missed the latest commit index: tell it even if there is
  // nothing new to send, then fill its pipeline.
  if (was_paused && !committed) send_append(m.from, true);
  while (send_append(m.from, false)) {
  }
  if (m.from == transferee_) maybe_send_timeout_now(m.from);
}

void Raft::handle_heartbeat_response(Instant now, const Message& m) {
  (void)now;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.read_round = std::max(pr.read_round, m.read_round);
  // A heartbeat response proves the follower is reachable: unstick a lost probe or a pipeline
  // whose acknowledgements were all lost.
  if (pr.state == ProgressState::kProbe) pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && pr.inflight.size() >= config_.max_inflight_appends) {
    pr.inflight.pop_front();
  }
  // Sent even when empty: if every pipelined append was lost, `next` is already past the end and
  // only a (rejected) empty append brings the follower back to probing.
  if (pr.match < log_.last_index()) send_append(m.from, true);
  release_reads();
}

void Raft::handle_install_snapshot_response(Instant now, const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.done && !m.reject) {
    if (m.index > log_.last_index()) return;
    pr.maybe_update(m.index);
    if (pr.state == ProgressState::kSnapshot) {
      logger_->info(kSubsystem, "node {}: {} installed snapshot, now at {}", id(), m.from,
                    pr.match);
      pr.become_probe();
    }
    if (maybe_commit()) after_commit_advanced(now);
    if (role_ == Role::kLeader) send_append(m.from, true);
    return;
  }
  if (pr.state != ProgressState::kSnapshot || m.snapshot.index != pr.snapshot_index) return;
  pr.chunk_sent = false;
  pr.snapshot_offset = m.offset <= snapshot_.data.size() ? m.offset : 0;
  send_snapshot_chunk(m.from, pr);
}

bool Raft::maybe_commit() {
  std::map<NodeId, LogIndex> matches;
  for (const auto& [node, pr] : progress_) matches[node] = pr.match;
  // The leader's own log counts only once the host has made it durable.
  matches[id()] = log_.persisted();
  const LogIndex q = quorum_index(log_.membership().voters, matches);
  // Raft §5.4.2 (Figure 8): only entries of the current term are committed by counting.
  if (q <= log_.committed() || log_.term_at(q) != term_) return false;
  log_.commit_to(q);
  return true;
}

void Raft::after_commit_advanced(Instant now) {
  if (!reads_waiting_commit_.empty() && committed_in_current_term()) {
    std::vector<std::pair<ReadId, LogIndex>> reads;
    for (ReadId r : reads_waiting_commit_) reads.emplace_back(r, log_.committed());
    reads_waiting_commit_.clear();
    start_read_round(std::move(reads));
  }
  // Tell followers the new commit index promptly, piggybacked on (possibly empty) appends when
  // the Ready is taken, so that many acknowledgements cost one notice per follower.
  commit_notice_pending_ = true;
  if (!is_voter() && log_.membership_index() <= log_.committed()) {
    logger_->info(kSubsystem, "node {}: removed from configuration, stepping down", id());
    become_follower(now, term_, kNoNode);
  }
}

bool Raft::committed_in_current_term() const { return log_.term_at(log_.committed()) == term_; }

void Raft::on_heartbeat_timeout(Instant now) {
  heartbeat_deadline_ = now + config_.heartbeat_interval;
  broadcast_heartbeat();
  for (auto& [node, pr] : progress_) {
    if (pr.state == ProgressState::kSnapshot && pr.chunk_sent) {
      pr.chunk_sent = false;
      send_snapshot_chunk(node, pr);  // the last chunk or its answer was lost
    }
  }
}

void Raft::on_check_quorum_timeout(Instant now) {
  std::set<NodeId> active;
  active.insert(id());
  for (auto& [node, pr] : progress_) {
    if (pr.recent_active) active.insert(node);
    pr.recent_active = false;
  }
  std::map<NodeId, bool> votes;
  for (NodeId n : active) votes[n] = true;
  if (tally_votes(log_.membership().voters, votes) != VoteResult::kWon) {
    logger_->warn(kSubsystem, "node {}: failed to contact quorum of nodes, stepping down", id());
    become_follower(now, term_, kNoNode);
    return;
  }
  check_quorum_deadline_ = now + config_.election_timeout;
}

// ---------------------------------------------------------------------------------------------
// Client-facing inputs

Error Raft::not_leader_error() const {
  return make_error(ErrorCode::kNotLeader, fmt::format("node {} is not the leader (leader: {})",
                                                       id(), node_or_none(leader_)));
}

Result<LogIndex> Raft::propose(Instant now, Bytes command) {
  observe(now);
  if (role_ != Role::kLeader) return not_leader_error();
  if (transferee_ != kNoNode) {
    return make_error(ErrorCode::kUnavailable, "leadership transfer in progress");
  }
  if (command.size() > kMaxEntryBytes) {
    return make_error(ErrorCode::kTooLarge, fmt::format("command of {} bytes", command.size()));
  }
  const auto pending = log_.last_index().value() - log_.committed().value();
  if (pending >= config_.max_pending_proposals) {
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("too many pending proposals ({})", pending));
  }
  append_entry(EntryType::kNormal, std::move(command));
  // Replicated when the Ready is taken: all proposals since the last Ready travel together in
  // one append per follower (group commit on the wire, not only on disk).
  append_pending_ = true;
  return log_.last_index();
}

Result<LogIndex> Raft::propose_membership(Instant now, MembershipChange change) {
  observe(now);
  if (role_ != Role::kLeader) return not_leader_error();
  if (transferee_ != kNoNode) {
    return make_error(ErrorCode::kUnavailable, "leadership transfer in progress");
  }
  if (!committed_in_current_term()) {
    return make_error(ErrorCode::kUnavailable, "no entry of the current term committed yet");
  }
  if (log_.membership_index() > log_.committed()) {
    return make_error(ErrorCode::kConflict, "a membership change is already in flight");
  }
  Membership next = log_.membership();
  const NodeId node = change.node;
  if (node == kNoNode) return make_error(ErrorCode::kInvalidArgument, "node id 0");
  switch (change.kind) {
    case MembershipChange::Kind::kAddLearner:
      if (next.contains(node)) return make_error(ErrorCode::kAlreadyExists, "already a member");
      if (next.all().size() >= kMaxMembers) return make_error(ErrorCode::kTooLarge, "too many");
      next.learners.insert(node);
      break;
    case MembershipChange::Kind::kPromote: {
      if (!next.is_learner(node)) return make_error(ErrorCode::kNotFound, "not a learner");
      const Progress& pr = progress_.at(node);
      if (pr.match.value() + config_.max_promote_lag < log_.last_index().value()) {
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("learner {} is behind (match {}, last {})", node, pr.match,
                                      log_.last_index()));
      }
      next.learners.erase(node);
      next.voters.insert(node);
      break;
    }
    case MembershipChange::Kind::kRemove:
      if (!next.contains(node)) return make_error(ErrorCode::kNotFound, "not a member");
      if (next.is_voter(node) && next.voters.size() == 1) {
        return make_error(ErrorCode::kInvalidArgument, "cannot remove the last voter");
      }
      next.voters.erase(node);
      next.learners.erase(node);
      break;
  }
  append_entry(EntryType::kConfig, encode_membership(next));
  logger_->info(kSubsystem, "node {}: proposing configuration {} at index {}", id(), next,
                log_.last_index());
  const LogIndex index = log_.last_index();
  broadcast_append();
  // Removing a voter can shrink the quorum enough to commit what is already replicated.
  if (maybe_commit()) after_commit_advanced(now);
  return index;
}

Result<void> Raft::read_index(Instant now, ReadId id_) {
  observe(now);
  if (role_ != Role::kLeader) return not_leader_error();
  if (reads_pending_.size() + reads_waiting_commit_.size() >= kMaxPendingReads) {
    return make_error(ErrorCode::kUnavailable, "too many pending reads");
  }
  if (!committed_in_current_term()) {
    // Thesis §6.4: until its no-op commits, a new leader's commit index may lag the cluster's.
    reads_waiting_commit_.push_back(id_);
    return ok();
  }
  start_read_round({{id_, log_.committed()}});
  return ok();
}

void Raft::start_read_round(std::vector<std::pair<ReadId, LogIndex>> reads) {
  ++read_round_;
  for (const auto& [rid, index] : reads) reads_pending_.push_back({rid, index, read_round_});
  broadcast_heartbeat();
  release_reads();
}

void Raft::release_reads() {
  if (reads_pending_.empty()) return;
  std::map<NodeId, std::uint64_t> rounds;
  for (const auto& [node, pr] : progress_) rounds[node] = pr.read_round;
  rounds[id()] = read_round_;
  const std::uint64_t q = quorum_value(log_.membership().voters, rounds);
  while (!reads_pending_.empty() && reads_pending_.front().round <= q) {
    reads_ready_.push_back({reads_pending_.front().id, reads_pending_.front().index});
    reads_pending_.pop_front();
  }
}

void Raft::abort_reads() {
  for (ReadId r : reads_waiting_commit_) reads_aborted_.push_back(r);
  for (const auto& p : reads_pending_) reads_aborted_.push_back(p.id);
  reads_waiting_commit_.clear();
  reads_pending_.clear();
}

Result<void> Raft::transfer_leadership(Instant now, NodeId target) {
  observe(now);
  if (role_ != Role::kLeader) return not_leader_error();
  if (target == id()) return make_error(ErrorCode::kInvalidArgument, "already the leader");
  if (!log_.membership().is_voter(target)) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{} is not a voter", target));
  }
  if (transferee_ == target) return ok();
  if (transferee_ != kNoNode) abort_transfer("superseded");
  transferee_ = target;
  transfer_deadline_ = now + config_.election_timeout;
  logger_->info(kSubsystem, "node {}: starting leadership transfer to {}", id(), target);
  maybe_send_timeout_now(target);
  return ok();
}

void Raft::maybe_send_timeout_now(NodeId to) {
  if (progress_.at(to).match == log_.last_index()) {
    logger_->info(kSubsystem, "node {}: {} is up to date, sending TimeoutNow", id(), to);
    Message m;
    m.kind = MessageKind::kTimeoutNow;
    m.to = to;
    send(std::move(m));
  } else {
    send_append(to, true);
  }
}

void Raft::abort_transfer(std::string_view why) {
  logger_->info(kSubsystem, "node {}: leadership transfer to {} aborted: {}", id(), transferee_,
                why);
  transferee_ = kNoNode;
  transfer_deadline_ = Instant::never();
}

Result<void> Raft::compact(LogIndex index, Bytes snapshot_data) {
  if (index <= log_.snapshot().index) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("index {} is already compacted", index));
  }
  if (index > log_.applied()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("index {} is not applied yet ({})", index, log_.applied()));
  }
  SnapshotMeta meta;
  meta.index = index;
  meta.term = *log_.term_at(index);
  meta.membership = log_.membership_at(index);
  logger_->info(kSubsystem, "node {}: compacting log up to index {} ({} snapshot bytes)", id(),
                index, snapshot_data.size());
  log_.compact(meta);
  snapshot_ = Snapshot{std::move(meta), std::move(snapshot_data)};
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Outputs

bool Raft::has_ready() const {
  if (ready_in_flight_) return false;
  return append_pending_ || commit_notice_pending_ ||
         SoftState{role_, term_, leader_} != last_soft_state_ ||
         HardState{term_, vote_, log_.committed()} != last_hard_state_ || log_.has_unstable() ||
         snapshot_to_install_.has_value() || !msgs_.empty() || log_.has_committed_to_apply() ||
         !reads_ready_.empty() || !reads_aborted_.empty();
}

Ready Raft::take_ready() {
  PRAETOR_ASSERT_MSG(!ready_in_flight_, "take_ready() before advance() of the previous Ready");
  flush_appends();
  Ready r;
  const SoftState soft{role_, term_, leader_};
  if (soft != last_soft_state_) r.role = last_soft_state_ = soft;
  const HardState hard{term_, vote_, log_.committed()};
  if (hard != last_hard_state_) r.hard_state = last_hard_state_ = hard;
  r.snapshot = std::move(snapshot_to_install_);
  snapshot_to_install_.reset();
  r.entries = log_.take_unstable();
  // Messages queued in an earlier term of this node are stale; worse, an acknowledgement queued
  // before a newer leader truncated the log would vouch for entries this Ready no longer
  // persists. Dropping them is always safe: the network may lose any message.
  std::erase_if(msgs_, [&](const Message& m) { return m.term < term_; });
  r.messages = std::move(msgs_);
  msgs_.clear();
  r.committed = log_.take_committed(std::numeric_limits<std::size_t>::max());
  r.reads = std::move(reads_ready_);
  reads_ready_.clear();
  r.reads_aborted = std::move(reads_aborted_);
  reads_aborted_.clear();
  ready_in_flight_ = true;
  snapshot_in_flight_ = r.snapshot.has_value();
  return r;
}

std::vector<Entry> Raft::take_committed_in_flight() {
  if (!ready_in_flight_ || snapshot_in_flight_ || role_ != Role::kLeader) return {};
  std::vector<Entry> out = log_.take_committed(std::numeric_limits<std::size_t>::max());
  if (!out.empty()) log_.applied_to(out.back().index);
  return out;
}

void Raft::advance(const Ready& ready) {
  PRAETOR_ASSERT_MSG(ready_in_flight_, "advance() without take_ready()");
  ready_in_flight_ = false;
  snapshot_in_flight_ = false;
  if (ready.snapshot) log_.snapshot_persisted(ready.snapshot->meta);
  if (!ready.entries.empty()) {
    log_.persisted_to(ready.entries.back().index, ready.entries.back().term);
  }
  if (!ready.committed.empty()) log_.applied_to(ready.committed.back().index);
  if (role_ == Role::kLeader && maybe_commit()) after_commit_advanced(now_);
}

Status Raft::status() const {
  Status s;
  s.id = id();
  s.role = role_;
  s.term = term_;
  s.vote = vote_;
  s.leader = leader_;
  s.first_index = log_.first_index();
  s.last_index = log_.last_index();
  s.commit = log_.committed();
  s.applied = log_.applied();
  s.persisted = log_.persisted();
  s.membership = log_.membership();
  s.transferee = transferee_;
  for (const auto& [node, pr] : progress_) {
    s.progress[node] = ProgressStatus{pr.match, pr.next, progress_state_name(pr.state),
                                      log_.membership().is_learner(node), pr.recent_active};
  }
  return s;
}

void Raft::check_invariants() const {
  log_.check_invariants();
  PRAETOR_ASSERT_MSG(vote_ == kNoNode || term_ > Term(0), "vote {} in term 0", vote_);
  PRAETOR_ASSERT_MSG(log_.last_term() <= term_, "last term {} > term {}", log_.last_term(), term_);
  PRAETOR_ASSERT(last_hard_state_.term <= term_);
  PRAETOR_ASSERT(last_hard_state_.commit <= log_.committed());
  PRAETOR_ASSERT_MSG((role_ == Role::kLeader) == (leader_ == id()), "leader_ {} in role {}",
                     leader_, role_name(role_));
  if (role_ == Role::kLeader || role_ == Role::kCandidate) {
    PRAETOR_ASSERT_MSG(vote_ == id(), "{} in term {} voted for {}", role_name(role_), term_, vote_);
  }
  if (role_ == Role::kCandidate || role_ == Role::kPreCandidate) {
    PRAETOR_ASSERT_MSG(is_voter(), "non-voter {} is {}", id(), role_name(role_));
  }
  if (role_ == Role::kLeader) {
    PRAETOR_ASSERT(leader_ == id());
    for (NodeId node : log_.membership().all()) {
      if (node != id()) PRAETOR_ASSERT_MSG(progress_.count(node) == 1, "no progress for {}", node);
    }
    for (const auto& [node, pr] : progress_) {
      PRAETOR_ASSERT_MSG(pr.match <= log_.last_index(), "{} match {} > last {}", node, pr.match,
                         log_.last_index());
      PRAETOR_ASSERT_MSG(pr.next > pr.match, "{} next {} <= match {}", node, pr.next, pr.match);
    }
  } else {
    PRAETOR_ASSERT(progress_.empty());
    PRAETOR_ASSERT(transferee_ == kNoNode);
    PRAETOR_ASSERT(reads_pending_.empty() && reads_waiting_commit_.empty());
  }
}

}  // namespace praetor::raft
