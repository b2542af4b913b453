// A member as one node sees it, and SWIM's precedence rules between membership claims.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"
#include "core/base/instant.hpp"
#include "core/gossip/message.hpp"

namespace praetor::gossip {

// What a member says about itself: its name, its address and its meta. Immutable and shared:
// every view of a member that agrees on these three points at one copy, so a node tracking
// N members pays for the identities once, not once per table that mentions them. A change of
// address or meta is a new Identity.
struct Identity {
  std::string name;
  Address address;
  Bytes meta;
};
using IdentityRef = std::shared_ptr<const Identity>;

// Interns identities by name: intern() returns the existing Identity when name, address and
// meta all match the one most recently interned under that name. One pool serves one Swim by
// default; a host that runs many Swims in one process (the simulator) may hand them one shared
// pool, so that 10,000 nodes' views of a member share one Identity. Not thread-safe: everything
// sharing a pool must run on one thread.
//
// Bounded: entries whose identity nobody holds any more are swept when the pool has doubled
// since the last sweep.
class IdentityPool {
 public:
  IdentityRef intern(std::string_view name, const Address& address, ByteView meta);
  std::size_t size() const { return by_name_.size(); }

 private:
  void sweep();
  std::map<std::string, std::weak_ptr<const Identity>, std::less<>> by_name_;
  std::size_t sweep_at_ = 64;
};

struct Member {
  IdentityRef identity;
  Incarnation incarnation;
  MemberState state = MemberState::kAlive;
  Instant state_change;

  const std::string& name() const { return identity->name; }
  const Address& address() const { return identity->address; }
  const Bytes& meta() const { return identity->meta; }

  friend bool operator==(const Member& a, const Member& b) {
    return a.name() == b.name() && a.address() == b.address() && a.meta() == b.meta() &&
           a.incarnation == b.incarnation && a.state == b.state &&
           a.state_change == b.state_change;
  }
};

// SWIM §4.2 incarnation precedence, as memberlist applies it: does a claim (state, incarnation)
// about a member override what we believe? Only the member itself may raise its incarnation, so
// a higher incarnation always means fresher news; at equal incarnation suspicion beats alive and
// death beats both. A dead or left member is only revived by a strictly newer alive.
bool claim_overrides(MemberState claim, Incarnation claim_incarnation, MemberState current,
                     Incarnation current_incarnation);

}  // namespace praetor::gossip
