// The catalog of nodes, services and checks (consul-compat §3.3, §3.4): three tables keyed as
// Consul keys them, each record stamped with the Raft indexes that created and last changed it,
// and the indexes blocking queries watch. Pure: the FSM applies Register and Deregister here, the
// HTTP API reads through the queries below.
//
// Indexes. Each table has one (the highest index that changed it, deletes included), and every
// service name has its own, moved by anything that changes what /v1/health/service/<name> or
// /v1/catalog/service/<name> shows: an instance of that service, one of its checks, its node, or
// a node-level check on its node (Consul does the same). So a watcher of "web" does not wake
// for writes to "db". A name's index lives while the name has instances; a watch on a name with
// none falls back to the services table's index, which moved when the last instance went, so a
// watcher's index never goes backwards.
//
// A write that changes nothing (anti-entropy re-registers everything every minute) moves no
// index at all, so it wakes no one.
//
// Invariants (check_invariants): create_index <= modify_index <= the table's index for every
// record; every service's node exists; every check's node exists, and its service when it names
// one; a check's service_name is its service's name; the per-name indexes are exactly the names
// that have instances, each at most the highest table index.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/base/result.hpp"
#include "core/catalog/command.hpp"

namespace praetor::catalog {

struct NodeRecord {
  NodeDef def;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  friend bool operator==(const NodeRecord&, const NodeRecord&) = default;
};

struct ServiceRecord {
  std::string node;
  ServiceDef def;  // def.id is never empty here (it defaults to the name)
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  friend bool operator==(const ServiceRecord&, const ServiceRecord&) = default;
};

struct CheckRecord {
  CheckDef def;              // def.node and def.check_id are never empty here
  std::string service_name;  // the name of def.service_id's service, "" for node-level checks
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  friend bool operator==(const CheckRecord&, const CheckRecord&) = default;
};

struct CheckRef {
  std::string node;
  std::string check_id;
  friend auto operator<=>(const CheckRef&, const CheckRef&) = default;
};

// What a write did that sessions care about (Consul invalidates a session when one of its checks
// goes critical or is removed, or its node is removed). Sorted, without duplicates.
struct CatalogEffects {
  std::vector<CheckRef> checks_down;  // became critical (new, or changed to critical) or removed
  std::vector<std::string> nodes_removed;  // deregistered with everything on them
  friend bool operator==(const CatalogEffects&, const CatalogEffects&) = default;
};

// The outcome of one Register or Deregister: a refusal (error non-empty, nothing changed) or
// what it did.
struct CatalogWrite {
  std::string error;
  CatalogEffects effects;
};

// A read's data and the index to report with it (the same index the read's watch returns).
template <typename T>
struct Indexed {
  T value;
  std::uint64_t index = 0;
};

// ?node-meta=k:v filters: a node matches when its meta has every pair.
using MetaFilter = std::vector<std::pair<std::string, std::string>>;

struct ServiceInstance {
  const NodeRecord* node = nullptr;
  const ServiceRecord* service = nullptr;
};

struct NodeServices {
  const NodeRecord* node = nullptr;
  std::vector<const ServiceRecord*> services;  // by service id
};

// One entry of /v1/health/service/<name>: the instance and the checks that decide its health,
// its node's checks first (serfHealth among them), then the service's own, each by check id.
struct HealthEntry {
  const NodeRecord* node = nullptr;
  const ServiceRecord* service = nullptr;
  std::vector<const CheckRecord*> checks;
};

enum class CheckStateFilter : std::uint8_t { kAny, kPassing, kWarning, kCritical };

std::string_view health_status_name(HealthStatus status);  // "passing", "warning", "critical"

// The caps every registration must respect (limits.hpp); Consul's text for the metadata ones.
// The HTTP API calls this before proposing; the state refuses what fails it, too.
std::optional<std::string> register_limits_error(const Register& command);

class CatalogState {
 public:
  // Writes, at Raft index `index` (greater than every index applied before).
  CatalogWrite apply_register(std::uint64_t index, const Register& command);
  CatalogWrite apply_deregister(std::uint64_t index, const Deregister& command);

  // Indexes for blocking queries.
  std::uint64_t nodes_index() const { return nodes_index_; }
  std::uint64_t services_index() const { return services_index_; }
  std::uint64_t checks_index() const { return checks_index_; }
  std::uint64_t service_name_index(const std::string& name) const;
  std::uint64_t node_index() const { return std::max(nodes_index_, services_index_); }
  std::uint64_t max_index() const;

  // Queries (read-only; the pointers are valid until the next write).
  const NodeRecord* node(const std::string& name) const;
  const ServiceRecord* service(const std::string& node, const std::string& service_id) const;
  // /v1/catalog/nodes: by name.
  Indexed<std::vector<const NodeRecord*>> nodes(const MetaFilter& meta) const;
  // /v1/catalog/services: name -> its instances' tags, deduplicated and sorted.
  Indexed<std::map<std::string, std::vector<std::string>>> services(const MetaFilter& meta) const;
  // /v1/catalog/service/<name>: instances carrying every tag in `tags`, by node then service id.
  Indexed<std::vector<ServiceInstance>> service_instances(const std::string& name,
                                                          const std::vector<std::string>& tags,
                                                          const MetaFilter& meta) const;
  // /v1/catalog/node/<node>: nullopt for an unknown node.
  Indexed<std::optional<NodeServices>> node_services(const std::string& node) const;
  // /v1/health/node/<node>: by check id.
  Indexed<std::vector<const CheckRecord*>> node_checks(const std::string& node) const;
  // /v1/health/checks/<service>: the checks of every instance of the service, by node, check id.
  Indexed<std::vector<const CheckRecord*>> service_checks(const std::string& name,
                                                          const MetaFilter& meta) const;
  // /v1/health/state/<state>: by node, check id.
  Indexed<std::vector<const CheckRecord*>> checks_in_state(CheckStateFilter state,
                                                           const MetaFilter& meta) const;
  // /v1/health/service/<name>: as service_instances, with checks; passing_only drops an entry
  // when any of its checks is not passing.
  Indexed<std::vector<HealthEntry>> health_service(const std::string& name,
                                                   const std::vector<std::string>& tags,
                                                   const MetaFilter& meta, bool passing_only) const;

  // The tables, for snapshots and tests.
  const std::map<std::string, NodeRecord>& node_table() const { return nodes_; }
  const std::map<std::pair<std::string, std::string>, ServiceRecord>& service_table() const {
    return services_;
  }
  const std::map<std::pair<std::string, std::string>, CheckRecord>& check_table() const {
    return checks_;
  }
  const std::map<std::string, std::uint64_t>& service_name_indexes() const {
    return service_name_indexes_;
  }

  // Rebuilds a state from a snapshot's tables and indexes, refusing one that breaks the
  // invariants above.
  struct Tables {
    std::vector<NodeRecord> nodes;
    std::vector<ServiceRecord> services;
    std::vector<CheckRecord> checks;
    std::map<std::string, std::uint64_t> service_name_indexes;
    std::uint64_t nodes_index = 0;
    std::uint64_t services_index = 0;
    std::uint64_t checks_index = 0;
  };
  static Result<CatalogState> from_tables(Tables tables);
  void check_invariants() const;
  // Why the state breaks an invariant, or nullopt (check_invariants asserts on it).
  std::optional<std::string> invariant_violation() const;

  friend bool operator==(const CatalogState& a, const CatalogState& b) {
    return a.nodes_ == b.nodes_ && a.services_ == b.services_ && a.checks_ == b.checks_ &&
           a.service_name_indexes_ == b.service_name_indexes_ && a.nodes_index_ == b.nodes_index_ &&
           a.services_index_ == b.services_index_ && a.checks_index_ == b.checks_index_;
  }

 private:
  using Key = std::pair<std::string, std::string>;

  std::optional<std::string> validate_register(const Register& command) const;
  void put_node(std::uint64_t index, const NodeDef& def);
  void put_service(std::uint64_t index, const std::string& node, ServiceDef def);
  void put_check(std::uint64_t index, CheckDef def, CatalogEffects& effects);
  void remove_service(std::uint64_t index, const Key& key, CatalogEffects& effects);
  void remove_check(std::uint64_t index, const Key& key, CatalogEffects& effects);
  void remove_node(std::uint64_t index, const std::string& name, CatalogEffects& effects);
  // Moves the index of every service name with an instance on `node`.
  void touch_services_of(std::uint64_t index, const std::string& node);
  void touch_name(std::uint64_t index, const std::string& name);
  bool node_matches(const std::string& node, const MetaFilter& meta) const;
  std::vector<const ServiceRecord*> instances_of(const std::string& name,
                                                 const std::vector<std::string>& tags,
                                                 const MetaFilter& meta) const;
  std::vector<const CheckRecord*> checks_on(const std::string& node,
                                            const std::string& service_id) const;

  std::map<std::string, NodeRecord> nodes_;
  std::map<Key, ServiceRecord> services_;  // (node, service id)
  std::map<Key, CheckRecord> checks_;      // (node, check id)
  // Derived (rebuilt on restore, not snapshotted): service name -> its instances' keys.
  std::map<std::string, std::set<Key>> by_name_;
  std::map<std::string, std::uint64_t> service_name_indexes_;
  std::uint64_t nodes_index_ = 0;
  std::uint64_t services_index_ = 0;
  std::uint64_t checks_index_ = 0;
};

}  // namespace praetor::catalog
