#include "core/gossip/serf.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <type_traits>
#include <utility>

#include "core/base/assert.hpp"
#include "core/gossip/codec.hpp"

namespace praetor::gossip {
namespace {

constexpr std::string_view kLog = "serf";
constexpr std::size_t kMaxEventsPerSlot = 64;

Config with_tags(Config config, const Tags& tags) {
  config.meta = encode_tags(tags);
  return config;
}

}  // namespace

Serf::Serf(SerfConfig config, Rng rng, Logger& logger)
    : config_(std::move(config)),
      rng_(rng.fork()),
      logger_(logger),
      swim_(with_tags(config_.swim, config_.tags), rng.fork(), logger),
      members_(swim_.members().shared_pool()),
      event_buffer_(std::max<std::size_t>(1, config_.event_buffer_size)) {
  PRAETOR_ASSERT_MSG(encode_tags(config_.tags).size() <= kMaxMetaBytes, "tags too large");
  // Clocks start at 1 so that time 0 means "never heard of".
  clock_.increment();
  event_clock_.increment();
  pump(Instant::zero());  // adopts the local member from Swim's bootstrap join event
}

// --- inputs -------------------------------------------------------------------------------

void Serf::step(Instant now, const Address& from, ByteView packet, Transport transport) {
  // A stream is a push/pull: a request is answered with our state, so it must be current.
  if (transport == Transport::kStream && state_dirty_) refresh_user_state(now);
  swim_.step(now, from, packet, transport);
  pump(now);
}

void Serf::advance_time(Instant now) {
  if (!started_) {
    started_ = true;
    next_reap_at_ = now + config_.reap_interval;
    next_reconnect_at_ = now + config_.reconnect_interval;
  }
  // Our state is encoded only when a push/pull is about to carry it (O(members) each time).
  if (state_dirty_ && swim_.push_pull_due(now)) refresh_user_state(now);
  swim_.advance_time(now);
  if (now >= leave_deadline_) on_leave_timer(now);
  if (now >= next_reap_at_) {
    next_reap_at_ = now + config_.reap_interval;
    reap(now);
  }
  if (now >= next_reconnect_at_) {
    next_reconnect_at_ = now + config_.reconnect_interval;
    reconnect(now);
  }
  pump(now);
}

void Serf::assume_members(Instant now, const std::vector<PushNodeState>& nodes) {
  swim_.assume_members(now, nodes);
  pump(now);
}

void Serf::join(Instant now, const std::vector<Address>& seeds) {
  // Announce the (re)join with a fresh time so an older leave intent about us is superseded.
  const JoinIntent intent{clock_.time(), name()};
  handle_join_intent(intent);
  refresh_user_state(now);
  swim_.join(now, seeds);
  broadcast(intent);
  pump(now);
}

void Serf::leave(Instant now) {
  if (leave_phase_ != LeavePhase::kNone) return;
  leave_phase_ = LeavePhase::kIntentSent;
  const LeaveIntent intent{clock_.time(), name()};
  clock_.increment();
  handle_leave_intent(now, intent);
  broadcast(intent);
  // Give the intent time to spread before SWIM announces our departure (serf broadcast
  // timeout): receivers then record "left", not "failed".
  leave_deadline_ = now + config_.leave_propagate_delay;
  logger_.info(kLog, "{} is leaving: intent at ltime {}", name(), intent.ltime);
  pump(now);
}

Result<void> Serf::force_leave(Instant now, const std::string& node, bool prune) {
  if (!members_.contains(node)) {
    return make_error(ErrorCode::kNotFound, fmt::format("No node found with name '{}'", node));
  }
  if (node == name()) {
    return make_error(ErrorCode::kInvalidArgument, "cannot force-leave the local node");
  }
  const LeaveIntent intent{clock_.time(), node};
  clock_.increment();
  handle_leave_intent(now, intent);
  broadcast(intent);
  const std::optional<MemberId> id = members_.id_of(node);
  const SerfSlot* slot = id ? members_.slot(*id) : nullptr;
  if (prune && slot != nullptr &&
      (slot->status == SerfStatus::kLeft || slot->status == SerfStatus::kFailed)) {
    const SerfSlot m = *slot;
    members_.erase(*id);
    ++stats_.reaped;
    state_dirty_ = true;
    logger_.info(kLog, "{}: pruned member {}", name(), node);
    emit(SerfEventKind::kMemberReap, m);
  }
  pump(now);
  return ok();
}

void Serf::on_leave_timer(Instant now) {
  if (leave_phase_ == LeavePhase::kIntentSent) {
    swim_.leave(now);
    leave_phase_ = LeavePhase::kSwimLeft;
    leave_deadline_ = now + config_.leave_propagate_delay;
  } else {
    leave_phase_ = LeavePhase::kDone;
    leave_deadline_ = Instant::never();
  }
}

Result<void> Serf::user_event(Instant now, std::string event_name, Bytes payload) {
  if (event_name.empty() || event_name.size() > kMaxNameBytes) {
    return make_error(ErrorCode::kInvalidArgument, "user event name must be 1..256 bytes");
  }
  if (event_name.size() + payload.size() > config_.max_user_event_bytes) {
    return make_error(ErrorCode::kTooLarge, "user event exceeds the size limit");
  }
  UserEvent event{event_clock_.time(), std::move(event_name), std::move(payload)};
  event_clock_.increment();
  const Bytes encoded = encode_serf_message(event);
  if (encoded.size() + 64 > config_.swim.max_packet_bytes) {
    return make_error(ErrorCode::kTooLarge, "user event does not fit a gossip packet");
  }
  ++stats_.user_events_sent;
  handle_user_event(event);  // delivered locally too, as serf does
  const bool queued = swim_.queue_user_broadcast(encoded);
  PRAETOR_ASSERT(queued);  // checked against the packet size above
  state_dirty_ = true;
  pump(now);
  return ok();
}

Result<void> Serf::set_tags(Instant now, Tags tags) {
  Bytes meta = encode_tags(tags);
  if (meta.size() > kMaxMetaBytes) return make_error(ErrorCode::kTooLarge, "tags too large");
  config_.tags = std::move(tags);
  swim_.set_meta(now, std::move(meta));
  pump(now);
  return ok();
}

SerfOutput Serf::take_output() { return std::exchange(output_, SerfOutput{}); }

Instant Serf::next_deadline() const {
  if (!started_) return Instant::zero();
  return std::min({swim_.next_deadline(), leave_deadline_, next_reap_at_, next_reconnect_at_});
}

// --- translation of Swim's output -------------------------------------------------------

void Serf::pump(Instant now) {
  Output out = swim_.take_output();
  for (const MemberEvent& e : out.events) on_member_event(now, e);
  for (const Bytes& payload : out.user_messages) on_serf_message(now, payload);
  for (const RemoteUserState& s : out.user_states) merge_remote_state(now, s);
  for (OutboundPacket& p : out.packets) output_.packets.push_back(std::move(p));
  // The push/pull user state is not re-encoded here: that costs O(members), so it happens only
  // when a push/pull is about to carry it (step on a stream, advance_time when one is due, join).
  // Handling may have queued broadcasts or changed meta; nothing is sent until Swim's next
  // packet, so draining once per input is enough.
}

void Serf::on_member_event(Instant now, const MemberEvent& event) {
  state_dirty_ = true;
  switch (event.kind) {
    case MemberEventKind::kJoin:
      on_join(now, event.member);
      break;
    case MemberEventKind::kLeave:
      on_leave(now, event.member);
      break;
    case MemberEventKind::kUpdate: {
      SerfSlot* m = members_.find(event.member.name());
      if (m == nullptr) return;
      m->identity = event.member.identity;  // new address or tags
      emit(SerfEventKind::kMemberUpdate, *m);
      break;
    }
    case MemberEventKind::kConflict: {
      logger_.error(kLog, "name conflict for {}: both {}:{} and {}:{} claim it", event.member.name(),
                    event.member.address().host, event.member.address().port,
                    event.conflicting_address.host, event.conflicting_address.port);
      SerfEvent e;
      e.kind = SerfEventKind::kNameConflict;
      e.conflicting_address = event.conflicting_address;
      if (const SerfSlot* m = members_.find(event.member.name())) {
        e.member = to_member(*m);
      } else {
        e.member.name = event.member.name();
        e.member.address = event.member.address();
      }
      output_.events.push_back(std::move(e));
      break;
    }
  }
}

void Serf::on_join(Instant now, const Member& m) {
  // Tags are decoded once per identity, when the pool interns it.
  if (!m.identity->tags_valid) ++stats_.malformed_messages;
  SerfSlot* slot = members_.find(m.name());
  if (slot == nullptr) {
    if (members_.size() >= kMaxMembers && !evict_oldest_tombstone(now)) {
      ++stats_.members_refused;
      return;
    }
    SerfSlot fresh{m.identity, SerfStatus::kAlive, LamportTime(), Instant()};
    // An intent may have arrived before SWIM told us about the member.
    auto intent = recent_intents_.find(m.name());
    if (intent != recent_intents_.end()) {
      fresh.status_ltime = intent->second.ltime;
      if (intent->second.leave) fresh.status = SerfStatus::kLeaving;
      recent_intents_.erase(intent);
    }
    slot = members_.insert(std::move(fresh)).first;
  } else {
    slot->status = SerfStatus::kAlive;
    slot->leave_time = Instant();
    slot->identity = m.identity;
  }
  emit(SerfEventKind::kMemberJoin, *slot);
}

void Serf::on_leave(Instant now, const Member& m) {
  SerfSlot* found = members_.find(m.name());
  if (found == nullptr) return;
  SerfSlot& member = *found;
  const bool graceful = member.status == SerfStatus::kLeaving || m.state == MemberState::kLeft;
  if (member.status == SerfStatus::kLeft || member.status == SerfStatus::kFailed) return;
  member.status = graceful ? SerfStatus::kLeft : SerfStatus::kFailed;
  member.leave_time = now;
  logger_.info(kLog, "{}: member {} {}", name(), m.name(), graceful ? "left" : "failed");
  emit(graceful ? SerfEventKind::kMemberLeave : SerfEventKind::kMemberFailed, member);
}

void Serf::on_serf_message(Instant now, ByteView payload) {
  auto decoded = decode_serf_message(payload);
  if (!decoded) {
    ++stats_.malformed_messages;
    return;
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        bool rebroadcast = false;
        if constexpr (std::is_same_v<T, JoinIntent>) {
          ++stats_.intents_received;
          rebroadcast = handle_join_intent(m);
          if (!members_.contains(m.node)) rebroadcast = upsert_intent(now, m.node, m.ltime, false);
        } else if constexpr (std::is_same_v<T, LeaveIntent>) {
          ++stats_.intents_received;
          rebroadcast = handle_leave_intent(now, m);
        } else {
          rebroadcast = handle_user_event(m);
        }
        // News spreads epidemically: whoever learns something new passes it on.
        if (rebroadcast) broadcast(m);
      },
      *decoded);
}

bool Serf::handle_join_intent(const JoinIntent& intent) {
  clock_.witness(intent.ltime);
  SerfSlot* m = members_.find(intent.node);
  if (m == nullptr || intent.ltime <= m->status_ltime) return false;
  state_dirty_ = true;
  m->status_ltime = intent.ltime;
  if (m->status == SerfStatus::kLeaving) m->status = SerfStatus::kAlive;
  return true;
}

bool Serf::handle_leave_intent(Instant now, const LeaveIntent& intent) {
  clock_.witness(intent.ltime);
  SerfSlot* found = members_.find(intent.node);
  if (found == nullptr) return upsert_intent(now, intent.node, intent.ltime, true);
  SerfSlot& member = *found;
  if (intent.ltime <= member.status_ltime) return false;
  if (intent.node == name() && leave_phase_ == LeavePhase::kNone) {
    // Someone replays an old leave of ours: refute with a newer join intent.
    const JoinIntent refute{clock_.time(), name()};
    handle_join_intent(refute);
    broadcast(refute);
    return false;
  }
  state_dirty_ = true;
  switch (member.status) {
    case SerfStatus::kAlive:
      member.status = SerfStatus::kLeaving;
      member.status_ltime = intent.ltime;
      emit(SerfEventKind::kMemberLeaving, member);
      return true;
    case SerfStatus::kFailed:
      // A failed member that turns out to have left is recorded as left (forced leave).
      member.status = SerfStatus::kLeft;
      member.status_ltime = intent.ltime;
      emit(SerfEventKind::kMemberLeave, member);
      return true;
    default:
      return false;
  }
}

bool Serf::upsert_intent(Instant now, const std::string& node, LamportTime ltime, bool leave) {
  auto it = recent_intents_.find(node);
  if (it != recent_intents_.end()) {
    if (it->second.ltime >= ltime) return false;
    it->second = Intent{ltime, leave, now};
    return true;
  }
  if (recent_intents_.size() >= config_.max_recent_intents) {
    ++stats_.intents_dropped;
    return false;
  }
  recent_intents_.emplace(node, Intent{ltime, leave, now});
  return true;
}

bool Serf::handle_user_event(const UserEvent& event) {
  // Peers are held to the same size limit as local callers (so rebroadcasts always fit).
  if (event.name.empty() ||
      event.name.size() + event.payload.size() > config_.max_user_event_bytes) {
    ++stats_.malformed_messages;
    return false;
  }
  event_clock_.witness(event.ltime);
  const std::uint64_t size = event_buffer_.size();
  const std::uint64_t current = event_clock_.time().value();
  if (current > size && event.ltime.value() < current - size) {
    ++stats_.user_events_too_old;
    return false;
  }
  EventSlot& slot = event_buffer_[event.ltime.value() % size];
  if (slot.ltime == event.ltime && !slot.events.empty()) {
    for (const auto& [seen_name, seen_payload] : slot.events) {
      if (seen_name == event.name && seen_payload == event.payload) {
        ++stats_.user_events_duplicate;
        return false;
      }
    }
    if (slot.events.size() >= kMaxEventsPerSlot) {
      ++stats_.user_events_duplicate;
      return false;
    }
  } else {
    slot = EventSlot{event.ltime, {}};
  }
  slot.events.emplace_back(event.name, event.payload);
  ++stats_.user_events_delivered;
  state_dirty_ = true;
  SerfEvent e;
  e.kind = SerfEventKind::kUser;
  e.user = event;
  output_.events.push_back(std::move(e));
  return true;
}

void Serf::merge_remote_state(Instant now, const RemoteUserState& state) {
  auto decoded = decode_serf_state(state.state);
  if (!decoded) {
    ++stats_.malformed_messages;
    return;
  }
  const SerfState& remote = *decoded;
  if (remote.member_ltime.value() > 0) clock_.witness(remote.member_ltime.prev());
  if (remote.event_ltime.value() > 0) event_clock_.witness(remote.event_ltime.prev());
  std::map<std::string, LamportTime> ltimes(remote.status_ltimes.begin(),
                                            remote.status_ltimes.end());
  // Leaves first, so that a join time cannot mask a newer leave.
  for (const std::string& node : remote.left_members) {
    auto it = ltimes.find(node);
    handle_leave_intent(now, LeaveIntent{it == ltimes.end() ? LamportTime() : it->second, node});
  }
  for (const auto& [node, ltime] : ltimes) {
    if (std::find(remote.left_members.begin(), remote.left_members.end(), node) !=
        remote.left_members.end()) {
      continue;
    }
    handle_join_intent(JoinIntent{ltime, node});
  }
  for (const UserEvent& e : remote.events) handle_user_event(e);
  state_dirty_ = true;
}

void Serf::refresh_user_state(Instant now) {
  (void)now;
  SerfState state;
  state.member_ltime = clock_.time();
  state.event_ltime = event_clock_.time();
  for (const auto& [node, m] : members_) {
    state.status_ltimes.emplace_back(std::string(node), m.status_ltime);
    if (m.status == SerfStatus::kLeft) state.left_members.emplace_back(node);
  }
  // The newest events first, up to the cap, walking the ring backwards from the clock.
  const std::uint64_t size = event_buffer_.size();
  const std::uint64_t current = event_clock_.time().value();
  for (std::uint64_t back = 0; back < size && back <= current; ++back) {
    const EventSlot& slot = event_buffer_[(current - back) % size];
    if (slot.ltime.value() != current - back) continue;
    for (const auto& [event_name, payload] : slot.events) {
      if (state.events.size() >= kMaxStateEvents) break;
      state.events.push_back(UserEvent{slot.ltime, event_name, payload});
    }
  }
  swim_.set_user_state(encode_serf_state(state));
  state_dirty_ = false;
}

// --- timers -------------------------------------------------------------------------------

void Serf::reap(Instant now) {
  std::vector<MemberId> reaped;
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    const auto [node, m] = *it;
    if (node == name()) continue;
    const bool failed_expired =
        m.status == SerfStatus::kFailed && now - m.leave_time > config_.reconnect_timeout;
    const bool left_expired =
        m.status == SerfStatus::kLeft && now - m.leave_time > config_.tombstone_timeout;
    if (failed_expired || left_expired) reaped.push_back(it.id());
  }
  for (MemberId id : reaped) {
    const SerfSlot m = *members_.slot(id);
    members_.erase(id);
    ++stats_.reaped;
    state_dirty_ = true;
    logger_.info(kLog, "{}: reaped member {}", name(), m.name());
    emit(SerfEventKind::kMemberReap, m);
  }
  for (auto it = recent_intents_.begin(); it != recent_intents_.end();) {
    const bool expired = now - it->second.seen > config_.recent_intent_timeout;
    it = expired ? recent_intents_.erase(it) : std::next(it);
  }
}

bool Serf::evict_oldest_tombstone(Instant now) {
  // At the member cap (a churn of names, possibly hostile), the member that failed or left
  // longest ago is reaped early to make room.
  std::optional<MemberId> oldest;
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    const SerfSlot& m = (*it).second;
    if (m.status != SerfStatus::kFailed && m.status != SerfStatus::kLeft) continue;
    if (!oldest || m.leave_time < members_.slot(*oldest)->leave_time) oldest = it.id();
  }
  if (!oldest) return false;
  const SerfSlot m = *members_.slot(*oldest);
  members_.erase(*oldest);
  ++stats_.reaped;
  logger_.warn(kLog, "{}: member cap reached at {}, reaped {} early", name(), now, m.name());
  emit(SerfEventKind::kMemberReap, m);
  return true;
}

void Serf::reconnect(Instant now) {
  if (leave_phase_ != LeavePhase::kNone) return;
  std::vector<const SerfSlot*> failed;
  std::size_t alive = 0;
  for (const auto& [node, m] : members_) {
    if (m.status == SerfStatus::kFailed) failed.push_back(&m);
    if (m.status == SerfStatus::kAlive || m.status == SerfStatus::kLeaving) ++alive;
  }
  if (failed.empty()) return;
  // serf: try with probability failed/alive, so a large healthy cluster does not storm the
  // few failed members with joins.
  const double probability =
      static_cast<double>(failed.size()) / static_cast<double>(std::max<std::size_t>(1, alive));
  if (rng_.unit() > probability) return;
  const SerfSlot* target = failed[rng_.uniform(failed.size())];
  ++stats_.reconnect_attempts;
  logger_.debug(kLog, "{} attempts to reconnect to {}", name(), target->name());
  refresh_user_state(now);
  const Address address = target->identity->address;
  swim_.join(now, {address});
}

void Serf::broadcast(const SerfMessage& message) {
  // Intents carry one bounded name and events were size-checked, so this only fails for a
  // configuration with a tiny packet size; the news then spreads by push/pull alone.
  if (!swim_.queue_user_broadcast(encode_serf_message(message))) ++stats_.intents_dropped;
}

SerfMember Serf::to_member(const SerfSlot& slot) { return SerfMemberRef(slot); }

void Serf::emit(SerfEventKind kind, const SerfSlot& member) {
  SerfEvent e;
  e.kind = kind;
  e.member = to_member(member);
  output_.events.push_back(std::move(e));
}

void Serf::check_invariants() const {
  swim_.check_invariants();
  const SerfSlot* me = members_.find(name());
  PRAETOR_ASSERT(me != nullptr);
  if (leave_phase_ == LeavePhase::kNone) {
    PRAETOR_ASSERT_MSG(me->status == SerfStatus::kAlive, "{} is not alive to itself", name());
  }
  PRAETOR_ASSERT(recent_intents_.size() <= config_.max_recent_intents);
  PRAETOR_ASSERT(members_.size() <= kMaxMembers);
  for (const EventSlot& slot : event_buffer_)
    PRAETOR_ASSERT(slot.events.size() <= kMaxEventsPerSlot);
  std::size_t count = 0;
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    PRAETOR_ASSERT(members_.id_of((*it).second.name()) == it.id());
    ++count;
  }
  PRAETOR_ASSERT(count == members_.size());
  PRAETOR_ASSERT(clock_.time().value() >= 1 && event_clock_.time().value() >= 1);
}

}  // namespace praetor::gossip
