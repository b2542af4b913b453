// The KV table: an ordered map (prefix scans are range scans) with Consul's per-entry indexes.
// Invariants: every entry has create_index <= modify_index <= index(); index() never decreases
// and moves on every mutation, deletes included, so blocking queries wake on deletes too (a
// failed transaction's roll-back is the one exception: it puts the index back where it was).
// held_by(session) indexes the keys whose Session is that session.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
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

  // Locks (consul-compat §3.5, ?acquire / ?release); the caller checked that the session exists.
  // lock: free -> Session set, LockIndex+1; held by this session -> value and flags only; held by
  // another -> false. unlock: held by this session -> Session cleared (LockIndex kept), value and
  // flags set; else false.
  bool lock(std::uint64_t index, const std::string& key, const Bytes& value, std::uint64_t flags,
            const std::string& session);
  bool unlock(std::uint64_t index, const std::string& key, const Bytes& value, std::uint64_t flags,
              const std::string& session);
  // The keys a session holds, in key order.
  std::vector<std::string> held_by(const std::string& session) const;
  // Frees a held key without touching its value (a session invalidated with behavior release).
  void clear_session(std::uint64_t index, const std::string& key);

  // A transaction's undo log: each key as it was before the transaction first changed it, and
  // the table index, so that a failed transaction leaves the store exactly as it found it.
  class Undo {
   public:
    explicit Undo(KvStore& kv) : kv_(kv), index_(kv.index_) {}
    void save(const std::string& key);  // before changing key
    void save_prefix(const std::string& prefix);
    void roll_back();

   private:
    KvStore& kv_;
    std::uint64_t index_;
    std::map<std::string, std::optional<KvEntry>> before_;
  };

  // The highest raft index that changed the table (Consul's kvs+tombstones max index).
  std::uint64_t index() const { return index_; }
  const std::map<std::string, KvEntry>& entries() const { return entries_; }

  // Rebuilds a store from a snapshot, checking the invariants above.
  static Result<KvStore> from_entries(std::vector<KvEntry> entries, std::uint64_t index);
  void check_invariants() const;

 private:
  void bump(std::uint64_t index);
  void set_holder(KvEntry& e, const std::string& session);
  void erase_entry(std::map<std::string, KvEntry>::iterator it);

  std::map<std::string, KvEntry> entries_;
  std::map<std::string, std::set<std::string>> held_;  // session -> keys
  std::uint64_t index_ = 0;
};

}  // namespace praetor::catalog
