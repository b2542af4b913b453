// praetor::gossip::Swim: a pure SWIM failure detector and membership protocol with the Lifeguard
// extensions, following hashicorp/memberlist's rules and constants.
//
//   SWIM (Das, Gupta, Motivala 2002): round-robin probing over a shuffled member list (§4.3),
//   ping / ping-req through k members (§3.1), suspicion before death (§4.2), incarnation numbers
//   to refute, infection-style dissemination piggybacked on protocol packets (§4.1), plus
//   memberlist's periodic push/pull anti-entropy.
//   Lifeguard (Dadgar, Phillips, Currey 2018): local health awareness scaling probe intervals
//   (§IV-A), nacks from indirect probers, suspicion timeouts that shrink with independent
//   confirmations (§IV-B), and the buddy system (a suspect is told it is suspected when probed).
//
// Shape (ARCHITECTURE.md §2): inputs are method calls taking `now`; effects queue in an Output
// drained by take_output(); next_deadline() says when advance_time() next has work. No I/O, no
// clock, randomness only from the injected Rng, iteration over std::map only.
//
// Invariants (check_invariants): the local member is in the member map and never dead while not
// leaving; every suspicion timer belongs to a suspect member; every probe-order entry is a
// member; all queues are within their caps.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/instant.hpp"
#include "core/base/log.hpp"
#include "core/base/rng.hpp"
#include "core/gossip/awareness.hpp"
#include "core/gossip/broadcast_queue.hpp"
#include "core/gossip/codec.hpp"
#include "core/gossip/config.hpp"
#include "core/gossip/member.hpp"
#include "core/gossip/message.hpp"
#include "core/gossip/suspicion.hpp"

namespace praetor::gossip {

struct OutboundPacket {
  Address to;
  Bytes bytes;
  Transport transport = Transport::kPacket;
};

enum class MemberEventKind : std::uint8_t {
  kJoin,      // a member became alive (new, or back from dead/left)
  kLeave,     // a member is dead (member.state kDead) or left gracefully (kLeft)
  kUpdate,    // an alive member changed its meta or address
  kConflict,  // another node claims an existing member's name from a different address
};

struct MemberEvent {
  MemberEventKind kind = MemberEventKind::kJoin;
  Member member;
  Address conflicting_address;  // kConflict only
};

struct RemoteUserState {
  bool join = false;
  Address from;
  Bytes state;
};

struct Output {
  std::vector<OutboundPacket> packets;
  std::vector<MemberEvent> events;
  std::vector<Bytes> user_messages;          // piggybacked payloads received (for Serf)
  std::vector<RemoteUserState> user_states;  // push/pull user states received (for Serf)
  bool empty() const {
    return packets.empty() && events.empty() && user_messages.empty() && user_states.empty();
  }
};

struct SwimStats {
  std::uint64_t packets_received = 0;
  std::uint64_t packets_sent = 0;
  std::uint64_t malformed_packets = 0;
  std::uint64_t oversized_packets = 0;
  std::uint64_t rejected_messages = 0;  // well-formed but semantically invalid
  std::uint64_t probes = 0;
  std::uint64_t probe_failures = 0;
  std::uint64_t indirect_probes_sent = 0;
  std::uint64_t acks_received = 0;
  std::uint64_t stale_acks = 0;
  std::uint64_t nacks_sent = 0;
  std::uint64_t nacks_received = 0;
  std::uint64_t suspicions_raised = 0;
  std::uint64_t suspicion_confirmations = 0;
  std::uint64_t deaths_declared = 0;
  std::uint64_t refutes = 0;
  std::uint64_t conflicts = 0;
  std::uint64_t push_pulls_started = 0;
  std::uint64_t push_pulls_served = 0;
  std::uint64_t push_pulls_completed = 0;
  std::uint64_t push_pulls_refused = 0;  // over a cap, or unsolicited responses
  std::uint64_t push_pulls_timed_out = 0;
  std::uint64_t relays_dropped = 0;
  std::uint64_t members_refused = 0;  // over kMaxMembers
  std::uint64_t fallback_pings = 0;     // stream pings after a failed direct ping
  std::uint64_t fallback_acks = 0;      // probes saved by the stream ping
  std::uint64_t stale_corrections = 0;  // alive frames sent back to senders of refuted news
};

class Swim {
 public:
  Swim(Config config, Rng rng, Logger& logger);

  // Inputs.
  void step(Instant now, const Address& from, ByteView packet,
            Transport transport = Transport::kPacket);
  void advance_time(Instant now);  // fires every deadline <= now
  // Starts a push/pull join with each seed; results arrive as member events.
  void join(Instant now, const std::vector<Address>& seeds);
  // Starts from a converged view, for simulations of a large steady cluster: adds each alive
  // member as a completed push/pull would, but queues no news about them, as if that news had
  // already spread. A real agent joins instead; nothing in the agent calls this.
  void assume_members(Instant now, const std::vector<PushNodeState>& nodes);
  // Broadcasts our own graceful death; probing and push/pull stop.
  void leave(Instant now);
  // Re-announces ourselves with new meta (Serf tags) and a higher incarnation.
  void set_meta(Instant now, Bytes meta);
  // Layer above: a payload to piggyback (transmit-limited like membership news). False, and
  // nothing queued, when it could not fit in one packet.
  bool queue_user_broadcast(Bytes payload);
  // Layer above: the user state sent with every push/pull from now on.
  void set_user_state(Bytes state) { user_state_ = std::move(state); }

  // Outputs.
  Output take_output();
  bool has_output() const { return !output_.empty(); }
  // Instant::zero() before the first input: the host should call advance_time() at once.
  Instant next_deadline() const;

  // Views.
  const MemberTable& members() const { return members_; }
  const Member& self() const;
  const Config& config() const { return config_; }
  const SwimStats& stats() const { return stats_; }
  const Awareness& awareness() const { return awareness_; }
  std::size_t broadcast_queue_size() const { return broadcasts_.size(); }
  std::size_t num_alive() const;
  bool leaving() const { return leaving_; }
  // Whether advance_time(now) would start a periodic push/pull (the layer above refreshes the
  // user state it carries first).
  bool push_pull_due(Instant now) const { return started_ && !leaving_ && now >= next_push_pull_at_; }
  void check_invariants() const;

 private:
  struct Probe {
    std::uint32_t seq = 0;
    std::string target;
    Instant timeout_at;  // direct ack wait (not scaled: waiting longer does not help UDP)
    Instant deadline;    // end of the probe round (scaled by awareness)
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  struct Relay {
    Address origin;
    std::uint32_t origin_seq = 0;
    bool want_nack = false;
    Instant deadline;
  };

  void start(Instant now);
  void handle_message(Instant now, const Address& from, Transport transport, Message message);
  void handle_ping(const Address& from, Transport transport, const Ping& ping);
  void handle_indirect_ping(Instant now, const Address& from, const IndirectPing& request);
  void handle_ack(Instant now, Transport transport, const Ack& ack);
  void handle_nack(const Nack& nack);
  void handle_push_pull(Instant now, const Address& from, PushPull push_pull);

  // memberlist's aliveNode / suspectNode / deadNode.
  void on_alive(Instant now, const Alive& alive, bool bootstrap = false);
  // True when on_alive would do nothing with this message: news about a known member, from its
  // known address, that does not override what we hold. Lets step() skip decoding it.
  bool knows_alive(const AliveView& alive) const;
  // `sender`: the packet's source when the claim came from the network (null otherwise).
  void on_suspect(Instant now, const Suspect& suspect, const Address* sender = nullptr);
  void on_dead(Instant now, const Dead& dead, const Address* sender = nullptr);
  void correct_stale_news(const Member& m, const Address* sender);
  void flush_corrections(const Address& to);
  void refute(Incarnation accused);
  void merge_remote_state(Instant now, const PushPull& remote);

  // Timers.
  void start_probe(Instant now);
  void on_probe_timeout(Instant now);
  void on_probe_deadline(Instant now);
  void on_gossip_tick(Instant now);
  void on_push_pull_tick(Instant now);
  void expire_suspicions(Instant now);
  void expire_relays(Instant now);
  void expire_push_pulls(Instant now);

  // Helpers.
  Member* find(std::string_view name) { return members_.find(name); }
  Member& self_mut();
  std::optional<std::string> next_probe_target(Instant now);
  void reset_probe_order(Instant now);
  std::vector<const Member*> random_members(std::size_t k, const std::string& exclude, Instant now,
                                            bool include_recent_dead);
  void broadcast(const std::string& key, const Message& message);
  void send(const Address& to, std::vector<Bytes> frames);
  void send_stream(const Address& to, const Message& message);
  void send_push_pull(Instant now, const Address& to, bool join);
  PushPull local_state(bool join, bool response) const;
  void emit(MemberEventKind kind, const Member& member, Address conflicting = {});
  int transmit_limit() const;

  // Up to this many members, random_members scans them all; beyond, it samples.
  static constexpr std::size_t kScanMembersMax = 64;

  Config config_;
  Rng rng_;
  Logger& logger_;
  MemberTable members_;
  std::vector<MemberId> probe_order_;  // ids: a stale one (member forgotten) is skipped
  std::size_t probe_index_ = 0;
  std::optional<Probe> probe_;
  std::map<std::uint32_t, Relay> relays_;
  std::map<std::string, Suspicion> suspicions_;
  std::map<Address, Instant> pending_push_pulls_;  // outgoing, awaiting the response
  std::deque<Instant> served_push_pulls_;          // inbound, within the last stream_timeout
  BroadcastQueue broadcasts_;
  Awareness awareness_;
  Bytes user_state_;
  std::vector<Bytes> corrections_;  // alive frames for the sender of the packet being handled
  Output output_;
  SwimStats stats_;
  Incarnation incarnation_;
  std::uint32_t seq_ = 0;
  bool started_ = false;
  bool leaving_ = false;
  bool quiet_ = false;  // assume_members(): news is not queued
  Instant next_probe_at_;
  Instant next_gossip_at_;
  Instant next_push_pull_at_;
};

}  // namespace praetor::gossip
