// The KV table: an ordered map (prefix scans are range scans) with Consul's per-entry indexes.
// Invariants: every entry has create_index <= modify_index <= index(); index() never decreases
// and moves on every mutation, deletes included, so blocking queries wake on deletes too.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"

namespace praetor::catalog {

struct KvEntry {
  std::string key;
  Bytes value;
  std::uint64_t flags = 0;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  std::uint64_t lock_index = 0;
  std::string session;
  friend bool operator==(const KvEntry&, const KvEntry&) = default;
};

class KvStore {
 public:
  const KvEntry* get(const std::string& key) const;
  // Entries whose key starts with prefix, in key order.
  std::vector<const KvEntry*> list(const std::string& prefix) const;
  // Keys under prefix rolled up at the first separator after the prefix (Consul's ?keys).
  std::vector<std::string> keys(const std::string& prefix, const std::string& separator) const;

  void set(std::uint64_t index, const std::string& key, const Bytes& value, std::uint64_t flags);
  bool cas(std::uint64_t index, const std::string& key, const Bytes& value, std::uint64_t flags,
           std::uint64_t expected_modify_index);
  void remove(std::uint64_t index, const std::string& key);
  bool remove_cas(std::uint64_t index, const std::string& key, std::uint64_t expected);
  void remove_tree(std::uint64_t index, const std::string& prefix);

  // The highest raft index that changed the table (Consul's kvs+tombstones max index).
  std::uint64_t index() const { return index_; }
  const std::map<std::string, KvEntry>& entries() const { return entries_; }

  // Rebuilds a store from a snapshot, checking the invariants above.
  static Result<KvStore> from_entries(std::vector<KvEntry> entries, std::uint64_t index);
  void check_invariants() const;

 private:
  void bump(std::uint64_t index);

  std::map<std::string, KvEntry> entries_;
  std::uint64_t index_ = 0;
};

}  // namespace praetor::catalog
