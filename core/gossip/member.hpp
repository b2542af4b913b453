// A member as one node sees it, and SWIM's precedence rules between membership claims.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/base/assert.hpp"
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
  // The meta decoded as Serf tags, once per identity (empty, and tags_valid false, when the
  // meta is not an encoded tag set).
  Tags tags;
  bool tags_valid = false;
};
using IdentityRef = std::shared_ptr<const Identity>;

// A small number naming a member in one IdentityPool: the index of its slot in every
// MemberTable using that pool.
using MemberId = std::uint32_t;

// Names members with small dense ids and interns their identities. A MemberTable holds (is a
// holder of) the id of each member it contains; an id nobody holds is free and may be reused for
// another name. intern() returns the Identity most recently interned for an id when address and
// meta match, so all views that agree share one copy.
//
// One pool serves one Swim by default. A host that runs many Swims in one process (the
// simulator) hands them one shared pool: 10,000 nodes' views of a member then share one id and
// one Identity, and every node's table is a dense array indexed by the same ids. Not
// thread-safe: everything sharing a pool runs on one thread.
class IdentityPool {
 public:
  // The id of `name`, allocated when no holder has it; the caller becomes a holder.
  MemberId acquire(std::string_view name);
  void release(MemberId id);
  std::optional<MemberId> lookup(std::string_view name) const;
  const std::string& name(MemberId id) const { return entries_.at(id).name; }
  IdentityRef intern(MemberId id, const Address& address, ByteView meta);
  // Ids ever allocated (the size a table indexed by ids may reach).
  std::size_t id_space() const { return entries_.size(); }
  std::size_t live_ids() const { return by_name_.size(); }

 private:
  struct Entry {
    std::string name;
    std::uint32_t holders = 0;
    std::weak_ptr<const Identity> latest;
  };
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Entry> entries_;
  std::vector<MemberId> free_;
  // Looked up, never iterated: its order cannot leak into behaviour.
  std::unordered_map<std::string, MemberId, NameHash, std::equal_to<>> by_name_;
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

// Throws std::out_of_range naming the member (SlotTable::at).
[[noreturn]] void throw_no_member(std::string_view name);

// One node's members: a dense array of slots indexed by the pool's ids (a slot is empty when
// its identity is null). Lookup by name is a hash lookup in the pool plus an index; iteration
// goes in id order, skipping empty slots. The table is a holder of every id it contains.
// `Slot` has an `IdentityRef identity` and a `name()`; Swim's is Member, Serf's SerfSlot.
template <typename Slot>
class SlotTable {
 public:
  explicit SlotTable(std::shared_ptr<IdentityPool> pool) : pool_(std::move(pool)) {}
  ~SlotTable() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].identity) pool_->release(static_cast<MemberId>(i));
    }
  }
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;

  // The id of the member named `name` when it is in this table.
  std::optional<MemberId> id_of(std::string_view name) const {
    const std::optional<MemberId> id = pool_->lookup(name);
    if (!id || slot(*id) == nullptr) return std::nullopt;
    return id;
  }
  // The member in slot `id`, or null.
  const Slot* slot(MemberId id) const {
    return id < slots_.size() && slots_[id].identity ? &slots_[id] : nullptr;
  }
  Slot* slot(MemberId id) { return id < slots_.size() && slots_[id].identity ? &slots_[id] : nullptr; }
  const Slot* find(std::string_view name) const {
    const std::optional<MemberId> id = pool_->lookup(name);
    return id ? slot(*id) : nullptr;
  }
  Slot* find(std::string_view name) {
    const std::optional<MemberId> id = pool_->lookup(name);
    return id ? slot(*id) : nullptr;
  }
  const Slot& at(std::string_view name) const {
    const Slot* m = find(name);
    if (m == nullptr) throw_no_member(name);
    return *m;
  }
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  IdentityPool& pool() const { return *pool_; }
  const std::shared_ptr<IdentityPool>& shared_pool() const { return pool_; }

  // Adds a member that is not in the table, with a new identity from the pool.
  std::pair<Slot*, MemberId> insert(std::string_view name, const Address& address, ByteView meta,
                                    Slot rest) {
    PRAETOR_ASSERT(find(name) == nullptr);
    const MemberId id = pool_->acquire(name);
    rest.identity = pool_->intern(id, address, meta);
    return place(id, std::move(rest));
  }
  // Adds a member that is not in the table, with an identity interned in this pool already.
  std::pair<Slot*, MemberId> insert(Slot rest) {
    PRAETOR_ASSERT(rest.identity && find(rest.identity->name) == nullptr);
    const MemberId id = pool_->acquire(rest.identity->name);
    return place(id, std::move(rest));
  }
  // Gives member `id` a new address and meta (its name stays).
  void set_identity(MemberId id, const Address& address, ByteView meta) {
    Slot* m = slot(id);
    PRAETOR_ASSERT(m != nullptr);
    m->identity = pool_->intern(id, address, meta);
  }
  void erase(MemberId id) {
    Slot* m = slot(id);
    PRAETOR_ASSERT(m != nullptr);
    *m = Slot{};
    --count_;
    pool_->release(id);
  }

  class const_iterator {
   public:
    using value_type = std::pair<std::string_view, const Slot&>;
    const_iterator(const SlotTable* table, std::size_t i) : table_(table), i_(i) { skip(); }
    value_type operator*() const {
      const Slot& m = table_->slots_[i_];
      return {std::string_view(m.name()), m};
    }
    MemberId id() const { return static_cast<MemberId>(i_); }
    const_iterator& operator++() {
      ++i_;
      skip();
      return *this;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.i_ == b.i_;
    }

   private:
    void skip() {
      while (i_ < table_->slots_.size() && !table_->slots_[i_].identity) ++i_;
    }
    const SlotTable* table_;
    std::size_t i_;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, slots_.size()}; }

 private:
  std::pair<Slot*, MemberId> place(MemberId id, Slot rest) {
    if (id >= slots_.size()) {
      // Grow to the pool's id space at once: in a shared pool every table ends up that big.
      slots_.resize(std::max<std::size_t>(id + 1, pool_->id_space()));
    }
    Slot& m = slots_[id];
    m = std::move(rest);
    ++count_;
    return {&m, id};
  }
  std::shared_ptr<IdentityPool> pool_;
  std::vector<Slot> slots_;
  std::size_t count_ = 0;
};


using MemberTable = SlotTable<Member>;

// SWIM §4.2 incarnation precedence, as memberlist applies it: does a claim (state, incarnation)
// about a member override what we believe? Only the member itself may raise its incarnation, so
// a higher incarnation always means fresher news; at equal incarnation suspicion beats alive and
// death beats both. A dead or left member is only revived by a strictly newer alive.
bool claim_overrides(MemberState claim, Incarnation claim_incarnation, MemberState current,
                     Incarnation current_incarnation);

}  // namespace praetor::gossip
