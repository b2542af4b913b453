#include "core/gossip/member.hpp"

#include <algorithm>

namespace praetor::gossip {

namespace {
bool is_down(MemberState s) { return s == MemberState::kDead || s == MemberState::kLeft; }
}  // namespace

IdentityRef IdentityPool::intern(std::string_view name, const Address& address, ByteView meta) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    if (IdentityRef held = it->second.lock()) {
      if (held->address == address &&
          std::equal(held->meta.begin(), held->meta.end(), meta.begin(), meta.end())) {
        return held;
      }
    }
  }
  auto fresh = std::make_shared<const Identity>(
      Identity{std::string(name), address, Bytes(meta.begin(), meta.end())});
  if (it != by_name_.end()) {
    it->second = fresh;
  } else {
    by_name_.emplace(std::string(name), fresh);
    if (by_name_.size() >= sweep_at_) sweep();
  }
  return fresh;
}

void IdentityPool::sweep() {
  std::erase_if(by_name_, [](const auto& kv) { return kv.second.expired(); });
  sweep_at_ = std::max<std::size_t>(64, by_name_.size() * 2);
}

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
