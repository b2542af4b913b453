#include "core/gossip/member.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/base/assert.hpp"

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
  auto fresh =
      std::make_shared<const Identity>(Identity{e.name, address, Bytes(meta.begin(), meta.end())});
  e.latest = fresh;
  return fresh;
}

// --- MemberTable --------------------------------------------------------------------------

MemberTable::MemberTable(std::shared_ptr<IdentityPool> pool) : pool_(std::move(pool)) {
  PRAETOR_ASSERT(pool_ != nullptr);
}

MemberTable::~MemberTable() {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].identity) pool_->release(static_cast<MemberId>(i));
  }
}

const Member* MemberTable::slot(MemberId id) const {
  if (id >= slots_.size() || !slots_[id].identity) return nullptr;
  return &slots_[id];
}

Member* MemberTable::slot(MemberId id) {
  if (id >= slots_.size() || !slots_[id].identity) return nullptr;
  return &slots_[id];
}

std::optional<MemberId> MemberTable::id_of(std::string_view name) const {
  const std::optional<MemberId> id = pool_->lookup(name);
  if (!id || slot(*id) == nullptr) return std::nullopt;
  return id;
}

const Member* MemberTable::find(std::string_view name) const {
  const std::optional<MemberId> id = pool_->lookup(name);
  return id ? slot(*id) : nullptr;
}

Member* MemberTable::find(std::string_view name) {
  const std::optional<MemberId> id = pool_->lookup(name);
  return id ? slot(*id) : nullptr;
}

const Member& MemberTable::at(std::string_view name) const {
  const Member* m = find(name);
  if (m == nullptr) throw std::out_of_range("no member named " + std::string(name));
  return *m;
}

std::pair<Member*, MemberId> MemberTable::insert(std::string_view name, const Address& address,
                                                 ByteView meta, Incarnation incarnation,
                                                 MemberState state, Instant state_change) {
  PRAETOR_ASSERT(find(name) == nullptr);
  const MemberId id = pool_->acquire(name);
  if (id >= slots_.size()) {
    // Grow to the pool's id space at once: in a shared pool every table ends up that big.
    slots_.resize(std::max<std::size_t>(id + 1, pool_->id_space()));
  }
  Member& m = slots_[id];
  m = Member{pool_->intern(id, address, meta), incarnation, state, state_change};
  ++count_;
  return {&m, id};
}

void MemberTable::set_identity(MemberId id, const Address& address, ByteView meta) {
  Member* m = slot(id);
  PRAETOR_ASSERT(m != nullptr);
  m->identity = pool_->intern(id, address, meta);
}

void MemberTable::erase(MemberId id) {
  Member* m = slot(id);
  PRAETOR_ASSERT(m != nullptr);
  *m = Member{};
  m->identity = nullptr;
  --count_;
  pool_->release(id);
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
