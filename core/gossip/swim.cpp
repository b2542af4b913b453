#include "core/gossip/swim.hpp"

#include <algorithm>
#include <type_traits>
#include <tuple>
#include <utility>

#include "core/base/assert.hpp"
#include "core/gossip/codec.hpp"

namespace praetor::gossip {
namespace {

constexpr std::string_view kLog = "memberlist";

bool is_down(MemberState s) { return s == MemberState::kDead || s == MemberState::kLeft; }

// A member can only be named by a non-empty, bounded name (the codec bounds the length).
bool valid_name(const std::string& name) { return !name.empty(); }

}  // namespace

Swim::Swim(Config config, Rng rng, Logger& logger)
    : config_(std::move(config)),
      rng_(rng),
      logger_(logger),
      members_(config_.identities ? config_.identities : std::make_shared<IdentityPool>()),
      broadcasts_(kMaxBroadcastQueue),
      awareness_(config_.awareness_max_multiplier) {
  PRAETOR_ASSERT_MSG(valid_name(config_.name), "a gossip member needs a name");
  PRAETOR_ASSERT(config_.name.size() <= kMaxNameBytes);
  PRAETOR_ASSERT(config_.address.host.size() <= kMaxHostBytes);
  PRAETOR_ASSERT(config_.max_packet_bytes <= limits::kGossipMaxPacketBytes);
  PRAETOR_ASSERT(config_.probe_timeout <= config_.probe_interval);
  PRAETOR_ASSERT(config_.meta.size() <= kMaxMetaBytes);
  // memberlist starts incarnations at 1 so that any alive beats a freshly created record.
  incarnation_ = Incarnation(1);
  on_alive(Instant::zero(), Alive{incarnation_, config_.name, config_.address, config_.meta}, true);
}

void Swim::start(Instant now) {
  started_ = true;
  // Random phases keep a cluster started in lock-step from probing and gossiping in bursts.
  next_probe_at_ = now + rng_.between(Duration::zero(), config_.probe_interval);
  next_gossip_at_ = now + rng_.between(Duration::zero(), config_.gossip_interval);
  next_push_pull_at_ = now + rng_.between(Duration::zero(), config_.push_pull_interval);
}

// --- inputs -------------------------------------------------------------------------------

void Swim::step(Instant now, const Address& from, ByteView packet, Transport transport) {
  if (!started_) start(now);
  ++stats_.packets_received;
  const std::size_t max =
      transport == Transport::kStream ? kMaxStreamBytes : config_.max_packet_bytes;
  if (packet.size() > max) {
    ++stats_.oversized_packets;
    logger_.debug(kLog, "dropped a {} byte packet from {}:{}", packet.size(), from.host, from.port);
    return;
  }
  struct Known final : AliveFilter {
    const Swim* swim;
    explicit Known(const Swim* s) : swim(s) {}
    bool known(const AliveView& alive) const override { return swim->knows_alive(alive); }
  } known(this);
  auto decoded = decode_packet(packet, max, &known);
  if (!decoded) {
    ++stats_.malformed_packets;
    logger_.debug(kLog, "dropped a packet from {}:{}: {}", from.host, from.port,
                  decoded.error().message);
    return;
  }
  for (Message& m : *decoded) handle_message(now, from, transport, std::move(m));
  flush_corrections(from);
}

void Swim::flush_corrections(const Address& to) {
  if (corrections_.empty()) return;
  // One reply packet per received packet at most, so stale news cannot be used to amplify.
  std::vector<Bytes> frames;
  std::size_t used = kPacketHeaderBytes;
  for (Bytes& f : corrections_) {
    if (used + f.size() > config_.max_packet_bytes || frames.size() >= kMaxMessagesPerPacket) break;
    used += f.size();
    frames.push_back(std::move(f));
  }
  corrections_.clear();
  stats_.stale_corrections += frames.size();
  send(to, std::move(frames));
}

void Swim::handle_message(Instant now, const Address& from, Transport transport,
                          Message message) {
  std::visit(
      [&](auto&& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ping>) {
          handle_ping(from, transport, m);
        } else if constexpr (std::is_same_v<T, IndirectPing>) {
          handle_indirect_ping(now, from, m);
        } else if constexpr (std::is_same_v<T, Ack>) {
          handle_ack(now, transport, m);
        } else if constexpr (std::is_same_v<T, Nack>) {
          handle_nack(m);
        } else if constexpr (std::is_same_v<T, Suspect>) {
          if (!valid_name(m.node) || !valid_name(m.from)) return void(++stats_.rejected_messages);
          on_suspect(now, m, &from);
        } else if constexpr (std::is_same_v<T, Alive>) {
          if (!valid_name(m.node) || m.address.host.empty()) {
            return void(++stats_.rejected_messages);
          }
          on_alive(now, m);
        } else if constexpr (std::is_same_v<T, Dead>) {
          if (!valid_name(m.node) || !valid_name(m.from)) return void(++stats_.rejected_messages);
          on_dead(now, m, &from);
        } else if constexpr (std::is_same_v<T, UserMessage>) {
          output_.user_messages.push_back(std::move(m.payload));
        } else {
          handle_push_pull(now, from, std::move(m));
        }
      },
      std::move(message));
}

void Swim::handle_ping(const Address& from, Transport transport, const Ping& ping) {
  // A ping meant for a previous owner of our address is not ours to answer.
  if (!ping.target.empty() && ping.target != config_.name) {
    ++stats_.rejected_messages;
    return;
  }
  // A fallback ping came over a stream; its ack goes back the same way.
  if (transport == Transport::kStream) {
    send_stream(from, Ack{ping.seq});
    return;
  }
  send(from, {encode_frame(Ack{ping.seq})});
}

void Swim::handle_indirect_ping(Instant now, const Address& from, const IndirectPing& request) {
  if (relays_.size() >= kMaxIndirectRelays || request.target_address.host.empty()) {
    ++stats_.relays_dropped;
    return;
  }
  const std::uint32_t seq = ++seq_;
  relays_[seq] = Relay{from, request.seq, request.want_nack, now + config_.probe_timeout};
  send(request.target_address, {encode_frame(Ping{seq, request.target})});
}

void Swim::handle_ack(Instant now, Transport transport, const Ack& ack) {
  (void)now;
  if (probe_ && probe_->seq == ack.seq) {
    ++stats_.acks_received;
    if (transport == Transport::kStream) {
      ++stats_.fallback_acks;
      logger_.debug(kLog, "{} reached {} over a stream only: datagrams may be lost",
                    config_.name, probe_->target);
    }
    awareness_.apply_delta(-1);  // a probe that succeeds is evidence of our own health
    probe_.reset();
    return;
  }
  auto relay = relays_.find(ack.seq);
  if (relay != relays_.end()) {
    send(relay->second.origin, {encode_frame(Ack{relay->second.origin_seq})});
    relays_.erase(relay);
    return;
  }
  ++stats_.stale_acks;
}

void Swim::handle_nack(const Nack& nack) {
  if (probe_ && probe_->seq == nack.seq && probe_->nacks < probe_->expected_nacks) {
    ++probe_->nacks;
    ++stats_.nacks_received;
  }
}

void Swim::handle_push_pull(Instant now, const Address& from, PushPull push_pull) {
  if (push_pull.response) {
    // Only a response to a request we made is merged: an unsolicited state is not trusted.
    if (pending_push_pulls_.erase(from) == 0) {
      ++stats_.push_pulls_refused;
      return;
    }
    ++stats_.push_pulls_completed;
  } else {
    // memberlist serves at most 128 push/pulls at once, each for up to the stream timeout; a
    // pure core answers instantly, so the same cap applies per stream timeout window.
    while (!served_push_pulls_.empty() &&
           now - served_push_pulls_.front() >= config_.stream_timeout) {
      served_push_pulls_.pop_front();
    }
    if (served_push_pulls_.size() >= kMaxPendingPushPulls) {
      ++stats_.push_pulls_refused;
      return;
    }
    served_push_pulls_.push_back(now);
    ++stats_.push_pulls_served;
    // Answer with our state as it was before the merge, as memberlist does.
    send_stream(from, local_state(push_pull.join, true));
  }
  merge_remote_state(now, push_pull);
  if (!push_pull.user_state.empty()) {
    output_.user_states.push_back(
        RemoteUserState{push_pull.join, from, std::move(push_pull.user_state)});
  }
}

void Swim::merge_remote_state(Instant now, const PushPull& remote) {
  for (const PushNodeState& n : remote.nodes) {
    if (!valid_name(n.name) || n.address.host.empty()) {
      ++stats_.rejected_messages;
      continue;
    }
    switch (n.state) {
      case MemberState::kAlive:
        on_alive(now, Alive{n.incarnation, n.name, n.address, n.meta});
        break;
      case MemberState::kLeft:
        on_dead(now, Dead{n.incarnation, n.name, n.name});
        break;
      case MemberState::kDead:
        // Another node's belief in a death is only grounds for our own suspicion: the member
        // gets its chance to refute.
      case MemberState::kSuspect:
        on_suspect(now, Suspect{n.incarnation, n.name, config_.name});
        break;
    }
  }
}

void Swim::assume_members(Instant now, const std::vector<PushNodeState>& nodes) {
  if (!started_) start(now);
  quiet_ = true;
  for (const PushNodeState& n : nodes) {
    if (n.state != MemberState::kAlive || !valid_name(n.name) || n.address.host.empty()) continue;
    on_alive(now, Alive{n.incarnation, n.name, n.address, n.meta});
  }
  quiet_ = false;
}

void Swim::join(Instant now, const std::vector<Address>& seeds) {
  if (!started_) start(now);
  if (leaving_) {
    logger_.warn(kLog, "{} cannot join after leaving", config_.name);
    return;
  }
  for (const Address& seed : seeds) {
    if (seed == config_.address) continue;
    send_push_pull(now, seed, true);
  }
}

void Swim::leave(Instant now) {
  if (!started_) start(now);
  if (leaving_) return;
  leaving_ = true;
  probe_.reset();
  Member& me = self_mut();
  broadcast(config_.name, Dead{me.incarnation, config_.name, config_.name});
  me.state = MemberState::kLeft;
  me.state_change = now;
  emit(MemberEventKind::kLeave, me);
  logger_.info(kLog, "{} is leaving the cluster", config_.name);
}

void Swim::set_meta(Instant now, Bytes meta) {
  PRAETOR_ASSERT(meta.size() <= kMaxMetaBytes);
  if (!started_) start(now);
  incarnation_ = incarnation_.next();
  on_alive(now, Alive{incarnation_, config_.name, config_.address, std::move(meta)}, true);
}

bool Swim::queue_user_broadcast(Bytes payload) {
  Bytes frame = encode_frame(UserMessage{std::move(payload)});
  if (frame.size() + kPacketHeaderBytes > config_.max_packet_bytes) return false;
  broadcasts_.push("", std::move(frame));
  return true;
}

// --- membership rules ---------------------------------------------------------------------

bool Swim::knows_alive(const AliveView& alive) const {
  if (alive.node == config_.name) return false;
  const std::optional<MemberId> id = members_.id_of(alive.node);
  if (!id) return false;
  const Member* m = members_.slot(*id);
  const Address& address = m->address();
  return address.port == alive.port && address.host == alive.host &&
         !claim_overrides(MemberState::kAlive, alive.incarnation, m->state, m->incarnation);
}

void Swim::on_alive(Instant now, const Alive& alive, bool bootstrap) {
  const bool is_self = alive.node == config_.name;
  if (leaving_ && is_self) return;
  std::optional<MemberId> id = members_.id_of(alive.node);
  Member* m = id ? members_.slot(*id) : nullptr;
  bool is_new = false;
  if (m == nullptr) {
    if (members_.size() >= kMaxMembers) {
      ++stats_.members_refused;
      return;
    }
    std::tie(m, id) = members_.insert(alive.node, alive.address, alive.meta,
                                      Member{nullptr, Incarnation(0), MemberState::kDead, now});
    // A random slot in the probe order keeps the round-robin unpredictable (SWIM §4.3).
    probe_order_.push_back(*id);
    std::swap(probe_order_.back(), probe_order_[rng_.uniform(probe_order_.size())]);
    is_new = true;
  } else if (m->address() != alive.address) {
    const bool reclaimable = is_down(m->state) &&
                             config_.dead_node_reclaim_time > Duration::zero() &&
                             now - m->state_change > config_.dead_node_reclaim_time;
    if (!reclaimable) {
      ++stats_.conflicts;
      logger_.warn(kLog, "conflicting address for {}: {}:{} claims it, {}:{} holds it", alive.node,
                   alive.address.host, alive.address.port, m->address().host,
                   m->address().port);
      emit(MemberEventKind::kConflict, *m, alive.address);
      return;
    }
  }
  if (!is_new && !is_self && m->address() == alive.address &&
      !claim_overrides(MemberState::kAlive, alive.incarnation, m->state, m->incarnation)) {
    return;
  }
  if (is_self && alive.incarnation < m->incarnation) return;
  suspicions_.erase(alive.node);
  if (is_self && !bootstrap && !is_new) {
    // Our own announcement echoed back is harmless; anything else about us is refuted.
    if (alive.incarnation == m->incarnation && alive.meta == m->meta()) return;
    logger_.warn(kLog, "refuting an alive message about {} at incarnation {}", config_.name,
                 alive.incarnation);
    refute(alive.incarnation);
    return;
  }
  const MemberState old_state = m->state;
  const bool changed = m->meta() != alive.meta || m->address() != alive.address;
  broadcast(alive.node, alive);
  m->incarnation = alive.incarnation;
  if (changed) members_.set_identity(*id, alive.address, alive.meta);
  if (m->state != MemberState::kAlive) {
    m->state = MemberState::kAlive;
    m->state_change = now;
  }
  if (is_new || is_down(old_state)) {
    emit(MemberEventKind::kJoin, *m);
  } else if (changed) {
    emit(MemberEventKind::kUpdate, *m);
  }
}

void Swim::on_suspect(Instant now, const Suspect& suspect, const Address* sender) {
  Member* m = find(suspect.node);
  if (m == nullptr) return;
  if (suspect.incarnation < m->incarnation) {
    correct_stale_news(*m, sender);
    return;
  }
  auto timer = suspicions_.find(suspect.node);
  if (timer != suspicions_.end()) {
    // Lifeguard: an independent accuser shortens the timeout; spread the confirmation on.
    if (timer->second.confirm(suspect.from)) {
      ++stats_.suspicion_confirmations;
      broadcast(suspect.node, suspect);
    }
    return;
  }
  if (!claim_overrides(MemberState::kSuspect, suspect.incarnation, m->state, m->incarnation)) {
    return;
  }
  if (suspect.node == config_.name) {
    logger_.warn(kLog, "refuting a suspect message from {}", suspect.from);
    refute(suspect.incarnation);
    return;
  }
  broadcast(suspect.node, suspect);
  ++stats_.suspicions_raised;
  m->incarnation = suspect.incarnation;
  m->state = MemberState::kSuspect;
  m->state_change = now;
  const std::size_t n = members_.size();
  int needed = config_.suspicion_mult - 2;
  // With too few other members to confirm, waiting for confirmations only delays detection.
  if (n < 2 || static_cast<int>(n - 2) < needed) needed = 0;
  const Duration min = suspicion_timeout(config_.suspicion_mult, n, config_.probe_interval);
  const Duration max = min * config_.suspicion_max_timeout_mult;
  suspicions_.emplace(suspect.node, Suspicion(now, suspect.from, needed, min, max));
  logger_.info(kLog, "{} suspects {} (from {}, incarnation {})", config_.name, suspect.node,
               suspect.from, suspect.incarnation);
}

void Swim::on_dead(Instant now, const Dead& dead, const Address* sender) {
  Member* m = find(dead.node);
  if (m == nullptr) return;
  if (dead.incarnation < m->incarnation) {
    correct_stale_news(*m, sender);
    return;
  }
  suspicions_.erase(dead.node);
  if (!claim_overrides(MemberState::kDead, dead.incarnation, m->state, m->incarnation)) return;
  if (dead.node == config_.name && !leaving_) {
    logger_.warn(kLog, "refuting a dead message from {}", dead.from);
    refute(dead.incarnation);
    return;
  }
  broadcast(dead.node, dead);
  m->incarnation = dead.incarnation;
  m->state = dead.node == dead.from ? MemberState::kLeft : MemberState::kDead;
  m->state_change = now;
  logger_.info(kLog, "{} marks {} as {} (from {})", config_.name, dead.node,
               m->state == MemberState::kLeft ? "left" : "failed", dead.from);
  emit(MemberEventKind::kLeave, *m);
}

void Swim::correct_stale_news(const Member& m, const Address* sender) {
  // The sender accuses an incarnation the member has already refuted: the refutation missed it
  // (gossip is probabilistic). Tell it directly instead of letting its suspicion run out, or it
  // would declare a healthy member dead. Only alive news corrects, and only the packet's sender
  // hears it, in one reply packet per received packet (flush_corrections).
  // The frames go out as one packet when the received packet has been handled.
  if (sender == nullptr || m.state != MemberState::kAlive || leaving_) return;
  corrections_.push_back(encode_frame(Alive{m.incarnation, m.name(), m.address(), m.meta()}));
}

void Swim::refute(Incarnation accused) {
  incarnation_ = incarnation_.next();
  if (accused >= incarnation_) incarnation_ = accused.next();
  Member& me = self_mut();
  me.incarnation = incarnation_;
  broadcast(config_.name, Alive{incarnation_, config_.name, config_.address, me.meta()});
  // Being accused suggests we are the slow one (Lifeguard §IV-A).
  awareness_.apply_delta(1);
  ++stats_.refutes;
}

// --- timers -------------------------------------------------------------------------------

void Swim::advance_time(Instant now) {
  if (!started_) start(now);
  expire_relays(now);
  expire_push_pulls(now);
  if (probe_ && !probe_->indirect_sent && now >= probe_->timeout_at) on_probe_timeout(now);
  if (probe_ && now >= probe_->deadline) on_probe_deadline(now);
  // After the probe: a failed probe may confirm a suspicion and pull its deadline into the past.
  expire_suspicions(now);
  if (!probe_ && !leaving_ && now >= next_probe_at_) start_probe(now);
  if (now >= next_gossip_at_) on_gossip_tick(now);
  if (!leaving_ && now >= next_push_pull_at_) on_push_pull_tick(now);
}

void Swim::start_probe(Instant now) {
  next_probe_at_ = now + config_.probe_interval;
  const std::optional<std::string> target = next_probe_target(now);
  if (!target) return;
  const Member& m = *find(*target);
  const std::uint32_t seq = ++seq_;
  probe_ = Probe{seq, *target, now + config_.probe_timeout,
                 now + awareness_.scale(config_.probe_interval)};
  std::vector<Bytes> frames{encode_frame(Ping{seq, *target})};
  if (m.state != MemberState::kAlive) {
    // Buddy system: tell a suspect it is suspected so it can refute at once.
    frames.push_back(encode_frame(Suspect{m.incarnation, m.name(), config_.name}));
  }
  ++stats_.probes;
  send(m.address(), std::move(frames));
}

void Swim::on_probe_timeout(Instant now) {
  PRAETOR_ASSERT(probe_.has_value());
  probe_->indirect_sent = true;
  const Member* target = find(probe_->target);
  if (target == nullptr) return;
  for (const Member* peer : random_members(static_cast<std::size_t>(config_.indirect_checks),
                                           probe_->target, now, false)) {
    ++probe_->expected_nacks;
    ++stats_.indirect_probes_sent;
    send(peer->address(),
         {encode_frame(IndirectPing{probe_->seq, target->name(), target->address(), true})});
  }
  // memberlist's TCP fallback: the same ping over a stream, whose ack comes back the same way.
  // A member that lost datagrams but is reachable is not suspected.
  if (config_.tcp_pings) {
    ++stats_.fallback_pings;
    send_stream(target->address(), Ping{probe_->seq, target->name()});
  }
}

void Swim::on_probe_deadline(Instant now) {
  PRAETOR_ASSERT(probe_.has_value());
  const Probe probe = *probe_;
  probe_.reset();
  ++stats_.probe_failures;
  // Lifeguard: relays that should have nacked but did not point at our own trouble. Without
  // relays, any failed probe counts against us.
  const int delta = probe.expected_nacks > 0 ? std::max(0, probe.expected_nacks - probe.nacks) : 1;
  awareness_.apply_delta(delta);
  const Member* m = find(probe.target);
  if (m == nullptr || is_down(m->state)) return;
  logger_.info(kLog, "{}: suspect {} has failed, no acks received", config_.name, m->name());
  on_suspect(now, Suspect{m->incarnation, m->name(), config_.name});
}

void Swim::on_gossip_tick(Instant now) {
  next_gossip_at_ = now + config_.gossip_interval;
  // Nothing to spread: skip drawing targets (memberlist would draw them and send nothing).
  if (broadcasts_.empty()) return;
  const auto targets =
      random_members(static_cast<std::size_t>(config_.gossip_nodes), "", now, true);
  for (const Member* target : targets) {
    Bytes packet = begin_packet(config_.max_packet_bytes);
    const std::size_t count =
        broadcasts_.take_into(packet, config_.max_packet_bytes - kPacketHeaderBytes,
                              transmit_limit(), kMaxMessagesPerPacket);
    if (count == 0) return;
    finish_packet(packet, count);
    PRAETOR_ASSERT(packet.size() <= config_.max_packet_bytes);
    ++stats_.packets_sent;
    output_.packets.push_back(
        OutboundPacket{target->address(), std::move(packet), Transport::kPacket});
  }
}

void Swim::on_push_pull_tick(Instant now) {
  next_push_pull_at_ = now + push_pull_scale(config_.push_pull_interval, members_.size());
  const auto peers = random_members(1, "", now, false);
  if (peers.empty()) return;
  send_push_pull(now, peers.front()->address(), false);
}

void Swim::expire_suspicions(Instant now) {
  std::vector<std::string> due;
  for (const auto& [name, suspicion] : suspicions_) {
    if (suspicion.deadline() <= now) due.push_back(name);
  }
  for (const std::string& name : due) {
    const Suspicion s = suspicions_.at(name);
    suspicions_.erase(name);
    const Member* m = find(name);
    if (m == nullptr || m->state != MemberState::kSuspect) continue;
    ++stats_.deaths_declared;
    logger_.info(kLog, "{} marks {} as failed, suspect timeout reached ({} peer confirmations)",
                 config_.name, name, s.confirmations());
    on_dead(now, Dead{m->incarnation, name, config_.name});
  }
}

void Swim::expire_relays(Instant now) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    if (it->second.want_nack) {
      ++stats_.nacks_sent;
      send(it->second.origin, {encode_frame(Nack{it->second.origin_seq})});
    }
    it = relays_.erase(it);
  }
}

void Swim::expire_push_pulls(Instant now) {
  for (auto it = pending_push_pulls_.begin(); it != pending_push_pulls_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    ++stats_.push_pulls_timed_out;
    it = pending_push_pulls_.erase(it);
  }
}

Instant Swim::next_deadline() const {
  if (!started_) return Instant::zero();
  Instant next = next_gossip_at_;
  if (!leaving_) {
    next = std::min(next, next_push_pull_at_);
    if (probe_) {
      next = std::min(next, probe_->indirect_sent ? probe_->deadline
                                                  : std::min(probe_->timeout_at, probe_->deadline));
    } else {
      next = std::min(next, next_probe_at_);
    }
  }
  for (const auto& [name, s] : suspicions_) next = std::min(next, s.deadline());
  for (const auto& [seq, relay] : relays_) next = std::min(next, relay.deadline);
  for (const auto& [address, deadline] : pending_push_pulls_) next = std::min(next, deadline);
  return next;
}

// --- helpers ------------------------------------------------------------------------------

Output Swim::take_output() { return std::exchange(output_, Output{}); }


const Member& Swim::self() const { return members_.at(config_.name); }
Member& Swim::self_mut() {
  Member* me = members_.find(config_.name);
  PRAETOR_ASSERT(me != nullptr);
  return *me;
}

std::size_t Swim::num_alive() const {
  std::size_t n = 0;
  for (const auto& [name, m] : members_) n += is_down(m.state) ? 0 : 1;
  return n;
}

std::optional<std::string> Swim::next_probe_target(Instant now) {
  for (std::size_t checked = 0; checked <= members_.size(); ++checked) {
    if (probe_index_ >= probe_order_.size()) {
      reset_probe_order(now);
      probe_index_ = 0;
    }
    if (probe_order_.empty()) return std::nullopt;
    const Member* m = members_.slot(probe_order_[probe_index_++]);
    if (m == nullptr || m->name() == config_.name || is_down(m->state)) continue;
    return m->name();
  }
  return std::nullopt;
}

void Swim::reset_probe_order(Instant now) {
  // The end of a round is when memberlist forgets members dead for longer than it keeps
  // gossiping to them; the layer above keeps its own record of failed members.
  std::vector<MemberId> forget;
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    const Member& m = (*it).second;
    if (m.name() != config_.name && is_down(m.state) &&
        now - m.state_change > config_.gossip_to_the_dead_time) {
      forget.push_back(it.id());
    }
  }
  for (MemberId id : forget) members_.erase(id);
  probe_order_.clear();
  for (auto it = members_.begin(); it != members_.end(); ++it) probe_order_.push_back(it.id());
  rng_.shuffle(probe_order_);
}

std::vector<const Member*> Swim::random_members(std::size_t k, const std::string& exclude,
                                                Instant now, bool include_recent_dead) {
  auto eligible_member = [&](const Member& m) {
    if (m.name() == config_.name || m.name() == exclude) return false;
    if (!include_recent_dead) return m.state == MemberState::kAlive;
    return m.state == MemberState::kAlive || m.state == MemberState::kSuspect ||
           (m.state == MemberState::kDead &&
            now - m.state_change <= config_.gossip_to_the_dead_time);
  };
  // Large pools: draw random slots of the probe order (memberlist's kRandomNodes, at most 3n
  // draws) instead of scanning every member several times a second. Small pools, and large
  // ones where the draws came up short, take a uniform sample of a full scan.
  if (members_.size() > kScanMembersMax) {
    std::vector<const Member*> picked;
    for (std::size_t draw = 0; draw < 3 * probe_order_.size() && picked.size() < k; ++draw) {
      const Member* m = members_.slot(probe_order_[rng_.uniform(probe_order_.size())]);
      if (m == nullptr || !eligible_member(*m)) continue;
      if (std::find(picked.begin(), picked.end(), m) != picked.end()) continue;
      picked.push_back(m);
    }
    if (picked.size() == k) return picked;
  }
  std::vector<const Member*> eligible;
  for (const auto& [name, m] : members_) {
    if (eligible_member(m)) eligible.push_back(&m);
  }
  // Partial Fisher-Yates: the first k slots become a uniform sample.
  const std::size_t take = std::min(k, eligible.size());
  for (std::size_t i = 0; i < take; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(rng_.uniform(eligible.size() - i));
    std::swap(eligible[i], eligible[j]);
  }
  eligible.resize(take);
  return eligible;
}

void Swim::broadcast(const std::string& key, const Message& message) {
  if (quiet_) return;
  broadcasts_.push(key, encode_frame(message));
}

void Swim::send(const Address& to, std::vector<Bytes> frames) {
  std::size_t used = kPacketHeaderBytes;
  for (const Bytes& f : frames) used += f.size();
  PRAETOR_ASSERT(used <= config_.max_packet_bytes);
  PRAETOR_ASSERT(!frames.empty() && frames.size() <= kMaxMessagesPerPacket);
  Bytes packet = begin_packet(config_.max_packet_bytes);
  for (const Bytes& f : frames) packet.insert(packet.end(), f.begin(), f.end());
  // Piggyback pending news on every protocol packet (SWIM §4.1).
  const std::size_t extra =
      broadcasts_.take_into(packet, config_.max_packet_bytes - used, transmit_limit(),
                            kMaxMessagesPerPacket - frames.size());
  finish_packet(packet, frames.size() + extra);
  PRAETOR_ASSERT(packet.size() <= config_.max_packet_bytes);
  ++stats_.packets_sent;
  output_.packets.push_back(OutboundPacket{to, std::move(packet), Transport::kPacket});
}

void Swim::send_stream(const Address& to, const Message& message) {
  Bytes packet = encode_packet(message);
  PRAETOR_ASSERT(packet.size() <= kMaxStreamBytes);
  ++stats_.packets_sent;
  output_.packets.push_back(OutboundPacket{to, std::move(packet), Transport::kStream});
}

void Swim::send_push_pull(Instant now, const Address& to, bool join) {
  if (pending_push_pulls_.size() >= kMaxPendingPushPulls || pending_push_pulls_.contains(to)) {
    ++stats_.push_pulls_refused;
    return;
  }
  pending_push_pulls_[to] = now + config_.stream_timeout;
  ++stats_.push_pulls_started;
  send_stream(to, local_state(join, false));
}

PushPull Swim::local_state(bool join, bool response) const {
  PushPull state;
  state.join = join;
  state.response = response;
  // Stay under the stream cap, counting each member's exact encoded size (name, host and meta
  // with their lengths, port, incarnation, state): 10,000 members with short names and a few
  // tags take well under 1 MiB.
  std::size_t budget = kMaxStreamBytes - kPacketHeaderBytes - kFrameOverheadBytes - 16;
  if (user_state_.size() <= budget / 2) {
    state.user_state = user_state_;
    budget -= user_state_.size();
  }
  state.nodes.reserve(members_.size());
  for (const auto& [name, m] : members_) {
    const std::size_t cost = kPushNodeFixedBytes + m.name().size() + m.address().host.size() +
                             m.meta().size();
    if (budget < cost) break;
    budget -= cost;
    state.nodes.push_back(PushNodeState{m.name(), m.address(), m.meta(), m.incarnation, m.state});
  }
  return state;
}

void Swim::emit(MemberEventKind kind, const Member& member, Address conflicting) {
  output_.events.push_back(MemberEvent{kind, member, std::move(conflicting)});
}

int Swim::transmit_limit() const {
  return retransmit_limit(config_.retransmit_mult, members_.size());
}

void Swim::check_invariants() const {
  const Member* me = members_.find(config_.name);
  PRAETOR_ASSERT(me != nullptr);
  PRAETOR_ASSERT(me->incarnation == incarnation_);
  PRAETOR_ASSERT_MSG(leaving_ || me->state == MemberState::kAlive,
                     "{} believes itself not alive without leaving", config_.name);
  PRAETOR_ASSERT(members_.size() <= kMaxMembers);
  for (const auto& [name, s] : suspicions_) {
    const Member* m = members_.find(name);
    PRAETOR_ASSERT_MSG(m != nullptr && m->state == MemberState::kSuspect,
                       "suspicion timer for {} which is not suspect", name);
    PRAETOR_ASSERT(s.min() <= s.max());
  }
  std::size_t count = 0;
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    // Every member's slot is the id its name has in the pool.
    PRAETOR_ASSERT(members_.id_of((*it).second.name()) == it.id());
    ++count;
  }
  PRAETOR_ASSERT(count == members_.size());
  PRAETOR_ASSERT(relays_.size() <= kMaxIndirectRelays);
  PRAETOR_ASSERT(pending_push_pulls_.size() <= kMaxPendingPushPulls);
  PRAETOR_ASSERT(served_push_pulls_.size() <= kMaxPendingPushPulls);
  PRAETOR_ASSERT(awareness_.score() >= 0 && awareness_.score() < awareness_.max_multiplier());
  if (probe_) PRAETOR_ASSERT(probe_->target != config_.name);
  broadcasts_.check_invariants();
}

}  // namespace praetor::gossip
