#include "core/gossip/member.hpp"

namespace praetor::gossip {

namespace {
bool is_down(MemberState s) { return s == MemberState::kDead || s == MemberState::kLeft; }
}  // namespace

bool claim_overrides(MemberState claim, Incarnation claim_incarnation, MemberState current,
                     Incarnation current_incarnation) {
  switch (claim) {
    case MemberState::kAlive:
      return claim_incarnation > current_incarnation;
    case MemberState::kSuspect:
      // Suspicion only applies to a member we think alive (a suspect is confirmed, not reset).
      return current == MemberState::kAlive && claim_incarnation >= current_incarnation;
    case MemberState::kDead:
    case MemberState::kLeft:
      return !is_down(current) && claim_incarnation >= current_incarnation;
  }
  return false;
}

}  // namespace praetor::gossip
