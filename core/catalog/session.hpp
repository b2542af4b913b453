// The sessions table (consul-compat §3.6): sessions by id, with Consul's create/modify indexes
// and a table index for blocking queries. A session ties locks (KV keys whose Session names it)
// to a node and a set of its health checks; when it is destroyed or invalidated the Fsm releases
// or deletes those keys (fsm.cpp), so a key's Session always names a live session.
//
// What is checked where. A create request is checked in two steps, as Consul does: what depends
// on the server's config (the TTL range: session_ttl_min) or only on the request is checked by
// the leader before it proposes (validate_session_request), because replicas may run with
// different configs and must not disagree at apply; what depends on the replicated state (the
// node and its checks) is checked at apply (SessionTable::create), through CatalogFacts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/instant.hpp"
#include "core/base/result.hpp"
#include "core/catalog/command.hpp"

namespace praetor::catalog {

// Consul's bounds: a TTL is at most 24h; a lock-delay above 60 s is stored as given but applied
// as 60 s.
inline constexpr Duration kSessionTtlMax = Duration::hours(24);
inline constexpr Duration kSessionLockDelayMax = Duration::seconds(60);
// Consul invalidates a TTL session after twice its TTL without a renew.
inline constexpr std::int64_t kSessionTtlMultiplier = 2;

// What a session needs to know of the node/check catalog. The Fsm implements it over its own
// tables; tests use a fake.
class CatalogFacts {
 public:
  virtual ~CatalogFacts() = default;
  virtual bool node_exists(const std::string& node) const = 0;
  // nullopt: the node has no check with this id.
  virtual std::optional<HealthStatus> check_status(const std::string& node,
                                                   const std::string& check_id) const = 0;
};

struct SessionEntry {
  SessionDef def;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  friend bool operator==(const SessionEntry&, const SessionEntry&) = default;
};

// The TTL as a duration: zero for none ("" or "0s"); an error (Consul's text) when unparsable.
Result<Duration> session_ttl(const SessionDef& def);

// The leader's checks before proposing a SessionCreate (Consul's texts): an id and a node are
// given, and the TTL is none or within [ttl_min, 24h]. (The behavior is an enum here: the HTTP
// layer refuses unknown strings with "Invalid Behavior setting".)
Result<void> validate_session_request(const SessionDef& def, Duration ttl_min);

// The checks a session watches: its node checks and its service checks, all on its node.
std::vector<std::string> session_check_ids(const SessionDef& def);

class SessionTable {
 public:
  const SessionEntry* get(const std::string& id) const;
  std::vector<const SessionEntry*> on_node(const std::string& node) const;
  const std::map<std::string, SessionEntry>& all() const { return sessions_; }

  // Adds a session at index, or refuses (Consul's text) and changes nothing: an existing id, a
  // missing node, a missing or critical check.
  Result<void> create(std::uint64_t index, const SessionDef& def, const CatalogFacts& facts);
  // Removes a session at index; nullopt (and no change) when there is none.
  std::optional<SessionEntry> remove(std::uint64_t index, const std::string& id);

  // The sessions an event invalidates, in id order.
  std::vector<std::string> using_check(const std::string& node, const std::string& check_id) const;
  std::vector<std::string> of_node(const std::string& node) const;

  // The highest raft index that changed the table (moves on removes too).
  std::uint64_t index() const { return index_; }

  static Result<SessionTable> from_entries(std::vector<SessionEntry> entries, std::uint64_t index);
  void check_invariants() const;

 private:
  std::map<std::string, SessionEntry> sessions_;
  // node -> session ids: GET /v1/session/node/<node> and node invalidation without a scan.
  std::map<std::string, std::vector<std::string>> by_node_;
  std::uint64_t index_ = 0;
};

}  // namespace praetor::catalog
