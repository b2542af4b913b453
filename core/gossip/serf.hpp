// praetor::gossip::Serf: the cluster-membership layer Consul uses on top of SWIM, after
// hashicorp/serf. It owns a Swim and adds:
//   - member status alive / leaving / left / failed, where a graceful leave is announced first
//     by a Lamport-stamped leave intent (alive -> leaving), then by SWIM's own leave (-> left);
//     a member that dies without an intent is failed;
//   - reaping: failed members are forgotten after reconnect_timeout, left ones after
//     tombstone_timeout; meanwhile failed members are periodically re-joined (reconnect), which
//     is what heals a partition once SWIM has dropped the other side;
//   - node tags (role, dc, port, build, id, vsn, ...) carried as SWIM meta;
//   - name conflicts reported as events;
//   - Lamport-clocked user events, de-duplicated through a bounded ring of recent times.
//
// Same shape as Swim: inputs with `now`, outputs drained, next_deadline(). Every input is
// forwarded to the Swim, whose output is then translated before take_output() hands it out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/base/log.hpp"
#include "core/base/result.hpp"
#include "core/base/rng.hpp"
#include "core/gossip/config.hpp"
#include "core/gossip/lamport.hpp"
#include "core/gossip/serf_message.hpp"
#include "core/gossip/swim.hpp"

namespace praetor::gossip {

enum class SerfStatus : std::uint8_t { kAlive, kLeaving, kLeft, kFailed };

struct SerfMember {
  std::string name;
  Address address;
  Tags tags;
  SerfStatus status = SerfStatus::kAlive;
  LamportTime status_ltime;
  Instant leave_time;  // when it became left or failed (reaping runs from here)
  friend bool operator==(const SerfMember&, const SerfMember&) = default;
};

// Serf's record of a member in its table: the member's shared identity (name, address, tags)
// and Serf's own status. 40 bytes per member per node.
struct SerfSlot {
  IdentityRef identity;
  SerfStatus status = SerfStatus::kAlive;
  LamportTime status_ltime;
  Instant leave_time;
  const std::string& name() const { return identity->name; }
};

// A member as Serf::members() shows it: the fields of SerfMember, by reference into the table
// (valid until the Serf's next input). Converts to a SerfMember copy.
struct SerfMemberRef {
  const std::string& name;
  const Address& address;
  const Tags& tags;
  SerfStatus status;
  LamportTime status_ltime;
  Instant leave_time;

  explicit SerfMemberRef(const SerfSlot& s)
      : name(s.identity->name),
        address(s.identity->address),
        tags(s.identity->tags),
        status(s.status),
        status_ltime(s.status_ltime),
        leave_time(s.leave_time) {}
  operator SerfMember() const {  // NOLINT(google-explicit-constructor): a copy on request
    return SerfMember{name, address, tags, status, status_ltime, leave_time};
  }
};

// Serf::members(): a view of the table with the shape of a map from name to member (find,
// at, contains, size, iteration as (name, member) pairs). Iterates in id order (D14).
class SerfMembers {
 public:
  using Table = SlotTable<SerfSlot>;
  using value_type = std::pair<std::string_view, SerfMemberRef>;

  class const_iterator {
   public:
    struct Arrow {
      value_type value;
      const value_type* operator->() const { return &value; }
    };
    explicit const_iterator(Table::const_iterator it) : it_(it) {}
    value_type operator*() const {
      const auto [name, slot] = *it_;
      return {name, SerfMemberRef(slot)};
    }
    Arrow operator->() const { return Arrow{**this}; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.it_ == b.it_;
    }

   private:
    Table::const_iterator it_;
  };

  explicit SerfMembers(const Table& table) : table_(&table) {}
  const_iterator begin() const { return const_iterator(table_->begin()); }
  const_iterator end() const { return const_iterator(table_->end()); }
  const_iterator find(std::string_view name) const {
    const std::optional<MemberId> id = table_->id_of(name);
    return id ? const_iterator(Table::const_iterator(table_, *id)) : end();
  }
  SerfMemberRef at(std::string_view name) const { return SerfMemberRef(table_->at(name)); }
  bool contains(std::string_view name) const { return table_->contains(name); }
  std::size_t size() const { return table_->size(); }
  bool empty() const { return table_->empty(); }

 private:
  const Table* table_;
};

enum class SerfEventKind : std::uint8_t {
  kMemberJoin,
  kMemberLeaving,
  kMemberLeave,  // left gracefully
  kMemberFailed,
  kMemberUpdate,  // tags or address changed
  kMemberReap,
  kNameConflict,
  kUser,
};

struct SerfEvent {
  SerfEventKind kind = SerfEventKind::kMemberJoin;
  SerfMember member;            // member events, kNameConflict (the current holder)
  Address conflicting_address;  // kNameConflict
  UserEvent user;               // kUser
};

struct SerfOutput {
  std::vector<OutboundPacket> packets;
  std::vector<SerfEvent> events;
};

struct SerfStats {
  std::uint64_t user_events_sent = 0;
  std::uint64_t user_events_delivered = 0;
  std::uint64_t user_events_duplicate = 0;
  std::uint64_t user_events_too_old = 0;
  std::uint64_t intents_received = 0;
  std::uint64_t intents_dropped = 0;
  std::uint64_t malformed_messages = 0;
  std::uint64_t reaped = 0;
  std::uint64_t members_refused = 0;  // over kMaxMembers with no tombstone to evict
  std::uint64_t reconnect_attempts = 0;
};

enum class LeavePhase : std::uint8_t { kNone, kIntentSent, kSwimLeft, kDone };

class Serf {
 public:
  Serf(SerfConfig config, Rng rng, Logger& logger);

  // Inputs.
  void step(Instant now, const Address& from, ByteView packet,
            Transport transport = Transport::kPacket);
  void advance_time(Instant now);
  void join(Instant now, const std::vector<Address>& seeds);
  // Simulation only: Swim::assume_members, then the member table follows (see there).
  void assume_members(Instant now, const std::vector<PushNodeState>& nodes);
  void leave(Instant now);
  Result<void> user_event(Instant now, std::string name, Bytes payload);
  Result<void> set_tags(Instant now, Tags tags);
  // serf's RemoveFailedNode (`force-leave`): announces a leave intent on behalf of `node`, so a
  // failed member becomes left everywhere (and is reaped after the tombstone timeout instead of
  // being reconnected to for reconnect_timeout). With prune the member is forgotten at once
  // here. An alive member receiving it refutes it.
  Result<void> force_leave(Instant now, const std::string& node, bool prune);

  // Outputs.
  SerfOutput take_output();
  // Instant::zero() before the first input: the host should call advance_time() at once.
  Instant next_deadline() const;

  // Views.
  SerfMembers members() const { return SerfMembers(members_); }
  const Swim& swim() const { return swim_; }
  const SerfStats& stats() const { return stats_; }
  LamportTime member_clock() const { return clock_.time(); }
  LamportTime event_clock() const { return event_clock_.time(); }
  LeavePhase leave_phase() const { return leave_phase_; }
  const std::string& name() const { return config_.swim.name; }
  void check_invariants() const;

 private:
  struct Intent {
    LamportTime ltime;
    bool leave = false;
    Instant seen;
  };
  struct EventSlot {
    LamportTime ltime;
    std::vector<std::pair<std::string, Bytes>> events;  // (name, payload) seen at ltime
  };

  void pump(Instant now);
  void on_member_event(Instant now, const MemberEvent& event);
  void on_join(Instant now, const Member& m);
  void on_leave(Instant now, const Member& m);
  void on_serf_message(Instant now, ByteView payload);
  bool handle_join_intent(const JoinIntent& intent);
  bool handle_leave_intent(Instant now, const LeaveIntent& intent);
  bool handle_user_event(const UserEvent& event);
  bool upsert_intent(Instant now, const std::string& node, LamportTime ltime, bool leave);
  void merge_remote_state(Instant now, const RemoteUserState& state);
  void refresh_user_state(Instant now);
  void reap(Instant now);
  bool evict_oldest_tombstone(Instant now);
  void reconnect(Instant now);
  void on_leave_timer(Instant now);
  void broadcast(const SerfMessage& message);
  void emit(SerfEventKind kind, const SerfSlot& member);
  static SerfMember to_member(const SerfSlot& slot);

  SerfConfig config_;
  Rng rng_;
  Logger& logger_;
  Swim swim_;
  SlotTable<SerfSlot> members_;  // on the ids of swim_'s pool (declared after swim_)
  std::map<std::string, Intent> recent_intents_;
  std::vector<EventSlot> event_buffer_;
  LamportClock clock_;
  LamportClock event_clock_;
  SerfOutput output_;
  SerfStats stats_;
  LeavePhase leave_phase_ = LeavePhase::kNone;
  Instant leave_deadline_ = Instant::never();
  Instant next_reap_at_ = Instant::zero();
  Instant next_reconnect_at_ = Instant::zero();
  bool started_ = false;
  bool state_dirty_ = true;  // members or events changed since the user state was encoded
};

}  // namespace praetor::gossip
