#include "core/gossip/member.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/base/assert.hpp"
#include "core/gossip/codec.hpp"

namespace praetor::gossip {

namespace {
bool is_down(MemberState s) { return s == MemberState::kDead || s == MemberState::kLeft; }
}  // namespace

// --- IdentityPool -------------------------------------------------------------------------

MemberId IdentityPool::acquire(std::string_view name) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    ++entries_[it->second].holders;
    return it->second;
  }
  MemberId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    PRAETOR_ASSERT(entries_.size() < UINT32_MAX);
    id = static_cast<MemberId>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[id];
  e.name = std::string(name);
  e.holders = 1;
  e.latest.reset();
  by_name_.emplace(e.name, id);
  return id;
}

void IdentityPool::release(MemberId id) {
  Entry& e = entries_.at(id);
  PRAETOR_ASSERT(e.holders > 0);
  if (--e.holders > 0) return;
  by_name_.erase(e.name);
  e.name.clear();
  e.name.shrink_to_fit();
  e.latest.reset();
  free_.push_back(id);
}

std::optional<MemberId> IdentityPool::lookup(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

IdentityRef IdentityPool::intern(MemberId id, const Address& address, ByteView meta) {
  Entry& e = entries_.at(id);
  PRAETOR_ASSERT(e.holders > 0);
  if (IdentityRef held = e.latest.lock()) {
    if (held->address == address &&
        std::equal(held->meta.begin(), held->meta.end(), meta.begin(), meta.end())) {
      return held;
    }
  }
  Identity identity{e.name, address, Bytes(meta.begin(), meta.end()), {}, false};
  if (auto tags = decode_tags(identity.meta)) {
    identity.tags = std::move(*tags);
    identity.tags_valid = true;
  }
  auto fresh = std::make_shared<const Identity>(std::move(identity));
  e.latest = fresh;
  return fresh;
}

void throw_no_member(std::string_view name) {
  throw std::out_of_range("no member named " + std::string(name));
}

// --- precedence ---------------------------------------------------------------------------

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
