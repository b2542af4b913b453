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
  entries_.erase(key);
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
  auto last = first;
  while (last != entries_.end() && last->first.compare(0, prefix.size(), prefix) == 0) ++last;
  entries_.erase(first, last);
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
    if (!store.entries_.emplace(std::move(key), std::move(e)).second) {
      return make_error(ErrorCode::kCorruption, "duplicate kv key in snapshot");
    }
  }
  return store;
}

void KvStore::check_invariants() const {
  for (const auto& [key, e] : entries_) {
    PRAETOR_ASSERT(key == e.key);
    PRAETOR_ASSERT(e.create_index <= e.modify_index);
    PRAETOR_ASSERT(e.modify_index <= index_);
  }
}

}  // namespace praetor::catalog
