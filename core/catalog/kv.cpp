#include "core/catalog/kv.hpp"

#include <fmt/format.h>

#include "core/base/assert.hpp"

namespace praetor::catalog {

const KvEntry* KvStore::get(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const KvEntry*> KvStore::list(const std::string& prefix) const {
  std::vector<const KvEntry*> out;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(&it->second);
  }
  return out;
}

std::vector<std::string> KvStore::keys(const std::string& prefix,
                                       const std::string& separator) const {
  std::vector<std::string> out;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string& key = it->first;
    if (!separator.empty()) {
      auto pos = key.find(separator, prefix.size());
      if (pos != std::string::npos) {
        std::string rolled = key.substr(0, pos + separator.size());
        if (out.empty() || out.back() != rolled) out.push_back(std::move(rolled));
        continue;
      }
    }
    out.push_back(key);
  }
  return out;
}

void KvStore::bump(std::uint64_t index) {
  PRAETOR_ASSERT_MSG(index >= index_, "kv index went backwards: {} < {}", index, index_);
  index_ = index;
}

void KvStore::set(std::uint64_t index, const std::string& key, const Bytes& value,
                  std::uint64_t flags) {
  bump(index);
  auto [it, inserted] = entries_.try_emplace(key);
  KvEntry& e = it->second;
  if (inserted) {
    e.key = key;
    e.create_index = index;
  }
  e.value = value;
  e.flags = flags;
  e.modify_index = index;
}

bool KvStore::cas(std::uint64_t index, const std::string& key, const Bytes& value,
                  std::uint64_t flags, std::uint64_t expected_modify_index) {
  const KvEntry* existing = get(key);
  const bool matches = expected_modify_index == 0
                           ? existing == nullptr
                           : existing != nullptr && existing->modify_index == expected_modify_index;
  if (!matches) return false;
  set(index, key, value, flags);
  return true;
}

void KvStore::remove(std::uint64_t index, const std::string& key) {
  bump(index);
  if (auto it = entries_.find(key); it != entries_.end()) erase_entry(it);
}

bool KvStore::remove_cas(std::uint64_t index, const std::string& key, std::uint64_t expected) {
  const KvEntry* existing = get(key);
  if (existing == nullptr || existing->modify_index != expected) return false;
  remove(index, key);
  return true;
}

void KvStore::remove_tree(std::uint64_t index, const std::string& prefix) {
  bump(index);
  auto first = entries_.lower_bound(prefix);
  while (first != entries_.end() && first->first.compare(0, prefix.size(), prefix) == 0) {
    auto next = std::next(first);
    erase_entry(first);
    first = next;
  }
}

void KvStore::erase_entry(std::map<std::string, KvEntry>::iterator it) {
  set_holder(it->second, "");
  entries_.erase(it);
}

void KvStore::set_holder(KvEntry& e, const std::string& session) {
  if (e.session == session) return;
  if (!e.session.empty()) {
    auto held = held_.find(e.session);
    PRAETOR_ASSERT(held != held_.end());
    held->second.erase(e.key);
    if (held->second.empty()) held_.erase(held);
  }
  if (!session.empty()) held_[session].insert(e.key);
  e.session = session;
}

bool KvStore::lock(std::uint64_t index, const std::string& key, const Bytes& value,
                   std::uint64_t flags, const std::string& session) {
  PRAETOR_ASSERT(!session.empty());
  auto it = entries_.find(key);
  if (it != entries_.end() && !it->second.session.empty() && it->second.session != session) {
    return false;
  }
  const bool newly_held = it == entries_.end() || it->second.session.empty();
  set(index, key, value, flags);
  KvEntry& e = entries_.at(key);
  if (newly_held) {
    // Each new holder raises LockIndex, so a client can tell one acquisition from the next.
    ++e.lock_index;
    set_holder(e, session);
  }
  return true;
}

bool KvStore::unlock(std::uint64_t index, const std::string& key, const Bytes& value,
                     std::uint64_t flags, const std::string& session) {
  auto it = entries_.find(key);
  if (it == entries_.end() || session.empty() || it->second.session != session) return false;
  set(index, key, value, flags);
  set_holder(it->second, "");
  return true;
}

std::vector<std::string> KvStore::held_by(const std::string& session) const {
  auto it = held_.find(session);
  if (it == held_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void KvStore::clear_session(std::uint64_t index, const std::string& key) {
  auto it = entries_.find(key);
  PRAETOR_ASSERT_MSG(it != entries_.end(), "clearing the session of missing key {}", key);
  bump(index);
  set_holder(it->second, "");
  it->second.modify_index = index;
}

void KvStore::Undo::save(const std::string& key) {
  if (before_.contains(key)) return;  // only the state before the first change matters
  const KvEntry* e = kv_.get(key);
  before_.emplace(key, e == nullptr ? std::nullopt : std::optional<KvEntry>(*e));
}

void KvStore::Undo::save_prefix(const std::string& prefix) {
  for (const KvEntry* e : kv_.list(prefix)) save(e->key);
}

void KvStore::Undo::roll_back() {
  for (auto& [key, before] : before_) {
    if (auto it = kv_.entries_.find(key); it != kv_.entries_.end()) kv_.erase_entry(it);
    if (!before) continue;
    std::string session = std::move(before->session);
    before->session.clear();
    KvEntry& e = kv_.entries_.emplace(key, std::move(*before)).first->second;
    kv_.set_holder(e, session);
  }
  before_.clear();
  kv_.index_ = index_;
}

Result<KvStore> KvStore::from_entries(std::vector<KvEntry> entries, std::uint64_t index) {
  KvStore store;
  store.index_ = index;
  for (auto& e : entries) {
    if (e.create_index > e.modify_index || e.modify_index > index) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("kv entry \"{}\" has inconsistent indexes", e.key));
    }
    std::string key = e.key;
    std::string session = std::move(e.session);
    e.session.clear();
    auto [it, inserted] = store.entries_.emplace(std::move(key), std::move(e));
    if (!inserted) return make_error(ErrorCode::kCorruption, "duplicate kv key in snapshot");
    store.set_holder(it->second, session);
  }
  return store;
}

void KvStore::check_invariants() const {
  for (const auto& [key, e] : entries_) {
    PRAETOR_ASSERT(key == e.key);
    PRAETOR_ASSERT(e.create_index <= e.modify_index);
    PRAETOR_ASSERT(e.modify_index <= index_);
    if (!e.session.empty()) PRAETOR_ASSERT(held_.at(e.session).contains(key));
  }
  for (const auto& [session, keys] : held_) {
    PRAETOR_ASSERT(!keys.empty());
    for (const auto& key : keys) PRAETOR_ASSERT(entries_.at(key).session == session);
  }
}

}  // namespace praetor::catalog
