// A member as one node sees it, and SWIM's precedence rules between membership claims.
#pragma once

#include <string>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"
#include "core/base/instant.hpp"
#include "core/gossip/message.hpp"

namespace praetor::gossip {

struct Member {
  std::string name;
  Address address;
  Bytes meta;
  Incarnation incarnation;
  MemberState state = MemberState::kAlive;
  Instant state_change;
  friend bool operator==(const Member&, const Member&) = default;
};

// SWIM §4.2 incarnation precedence, as memberlist applies it: does a claim (state, incarnation)
// about a member override what we believe? Only the member itself may raise its incarnation, so
// a higher incarnation always means fresher news; at equal incarnation suspicion beats alive and
// death beats both. A dead or left member is only revived by a strictly newer alive.
bool claim_overrides(MemberState claim, Incarnation claim_incarnation, MemberState current,
                     Incarnation current_incarnation);

}  // namespace praetor::gossip
