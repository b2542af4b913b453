// The commands Raft replicates. A log entry's payload is [u8 CommandType][u16 version][cereal
// payload]; the FSM dispatches on the variant with one std::visit. Adding a command means adding a
// struct here, a CommandType, its codec case and its apply case — nothing registers globally.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"

namespace praetor::catalog {

enum class CommandType : std::uint8_t {
  kNoop = 0,
  kKvSet = 1,
  kKvCas = 2,
  kKvDelete = 3,
  kKvDeleteCas = 4,
  kKvDeleteTree = 5,
  // The catalog of nodes, services and checks.
  kRegister = 10,
  kDeregister = 11,
  // Sessions, locks and transactions.
  kSessionCreate = 20,
  kSessionDestroy = 21,
  kKvLock = 22,
  kKvUnlock = 23,
  kTxn = 24,
  // Whole-state operations: a family of their own, after the KV (0-9), catalog (10-19) and
  // session (20-29) families, each of which keeps its room to grow.
  kRestore = 30,
};

// A no-op: a new leader's first entry; it moves the applied index and nothing else.
struct Noop {
  friend bool operator==(const Noop&, const Noop&) = default;
};

struct KvSet {
  std::string key;
  Bytes value;  // empty is shown as null, as Consul does
  std::uint64_t flags = 0;
  friend bool operator==(const KvSet&, const KvSet&) = default;
};

// Check-and-set: index 0 means "create only if absent"; otherwise the key's ModifyIndex must
// equal index.
struct KvCas {
  std::string key;
  Bytes value;
  std::uint64_t flags = 0;
  std::uint64_t index = 0;
  friend bool operator==(const KvCas&, const KvCas&) = default;
};

struct KvDelete {
  std::string key;
  friend bool operator==(const KvDelete&, const KvDelete&) = default;
};

// Deletes only when the key's ModifyIndex equals index (index 0 never matches a live key).
struct KvDeleteCas {
  std::string key;
  std::uint64_t index = 0;
  friend bool operator==(const KvDeleteCas&, const KvDeleteCas&) = default;
};

// Deletes every key starting with prefix ("" deletes everything).
struct KvDeleteTree {
  std::string prefix;
  friend bool operator==(const KvDeleteTree&, const KvDeleteTree&) = default;
};

// ---------------------------------------------------------------------------------------------
// The catalog of nodes, services and checks (consul-compat §3.3, §3.4). These are what a
// registration carries; the state (state.hpp) stores them with their create/modify indexes.

enum class HealthStatus : std::uint8_t { kPassing = 0, kWarning = 1, kCritical = 2 };

struct NodeDef {
  std::string id;  // UUID, may be empty (Consul allows registering a node without one)
  std::string name;
  std::string address;
  std::string datacenter;
  std::map<std::string, std::string> tagged_addresses;
  std::map<std::string, std::string> meta;
  friend bool operator==(const NodeDef&, const NodeDef&) = default;
};

struct ServiceDef {
  std::string id;  // defaults to name when registered without one
  std::string name;
  std::vector<std::string> tags;
  std::string address;
  std::uint32_t port = 0;
  std::map<std::string, std::string> meta;
  std::uint32_t weight_passing = 1;
  std::uint32_t weight_warning = 1;
  bool enable_tag_override = false;
  friend bool operator==(const ServiceDef&, const ServiceDef&) = default;
};

struct CheckDef {
  std::string node;
  std::string check_id;  // defaults to name
  std::string name;
  HealthStatus status = HealthStatus::kCritical;  // Consul: a check starts critical
  std::string notes;
  std::string output;
  std::string service_id;  // empty: a node-level check
  std::string type;        // "script", "http", "tcp", "ttl", "serf", "" for catalog-only checks
  std::string interval;    // as given ("10s"), shown in Definition
  std::string timeout;
  friend bool operator==(const CheckDef&, const CheckDef&) = default;
};

// Upserts the node (unless skip_node_update and it exists), then the service, then the checks.
struct Register {
  NodeDef node;
  std::optional<ServiceDef> service;
  std::vector<CheckDef> checks;
  bool skip_node_update = false;
  friend bool operator==(const Register&, const Register&) = default;
};

// Removes one check, or one service with its checks, or (both empty) the node with everything
// on it.
struct Deregister {
  std::string node;
  std::string service_id;
  std::string check_id;
  friend bool operator==(const Deregister&, const Deregister&) = default;
};

// ---------------------------------------------------------------------------------------------
// Sessions, locks and transactions (consul-compat §3.5-§3.7).

enum class SessionBehavior : std::uint8_t { kRelease = 0, kDelete = 1 };

struct SessionDef {
  std::string id;  // a UUID chosen by the leader before it proposes, so replicas agree
  std::string name;
  std::string node;
  std::vector<std::string> node_checks;     // default {"serfHealth"}; an explicit [] is none
  std::vector<std::string> service_checks;  // check ids
  std::int64_t lock_delay_ns = 15'000'000'000;
  SessionBehavior behavior = SessionBehavior::kRelease;
  std::string ttl;  // as given ("20s"), "" for none
  friend bool operator==(const SessionDef&, const SessionDef&) = default;
};

struct SessionCreate {
  SessionDef session;
  friend bool operator==(const SessionCreate&, const SessionCreate&) = default;
};

struct SessionDestroy {
  std::string id;
  friend bool operator==(const SessionDestroy&, const SessionDestroy&) = default;
};

// ?acquire=session: takes the lock when free or already held by this session, and sets value.
struct KvLock {
  std::string key;
  Bytes value;
  std::uint64_t flags = 0;
  std::string session;
  friend bool operator==(const KvLock&, const KvLock&) = default;
};

// ?release=session: frees the lock when this session holds it, and sets value.
struct KvUnlock {
  std::string key;
  Bytes value;
  std::uint64_t flags = 0;
  std::string session;
  friend bool operator==(const KvUnlock&, const KvUnlock&) = default;
};

enum class TxnVerb : std::uint8_t {
  kSet,
  kCas,
  kLock,
  kUnlock,
  kGet,
  kGetTree,
  kCheckIndex,
  kCheckSession,
  kCheckNotExists,
  kDelete,
  kDeleteTree,
  kDeleteCas,
};

struct TxnOp {
  TxnVerb verb = TxnVerb::kGet;
  std::string key;
  Bytes value;
  std::uint64_t flags = 0;
  std::uint64_t index = 0;
  std::string session;
  friend bool operator==(const TxnOp&, const TxnOp&) = default;
};

// All of ops, or none of them, at one index.
struct Txn {
  std::vector<TxnOp> ops;
  friend bool operator==(const Txn&, const Txn&) = default;
};

// ---------------------------------------------------------------------------------------------
// PUT /v1/snapshot (decision D41): replaces every table with a snapshot's state image
// (Fsm::snapshot(), D27). Applied at index N, every table index, per-service-name index and
// record ModifyIndex becomes N, so no index a client has seen goes back and every blocking query
// wakes; CreateIndex and LockIndex are kept (CreateIndex capped at N).
struct Restore {
  Bytes state;
  friend bool operator==(const Restore&, const Restore&) = default;
};

using Command = std::variant<Noop, KvSet, KvCas, KvDelete, KvDeleteCas, KvDeleteTree,
                             // The catalog of nodes, services and checks.
                             Register, Deregister,
                             // Sessions, locks and transactions.
                             SessionCreate, SessionDestroy, KvLock, KvUnlock, Txn,
                             // Whole-state operations.
                             Restore>;

CommandType command_type(const Command& command);

// The entry payload format. encode never fails; decode rejects unknown types, unknown versions,
// oversized fields and trailing bytes.
Bytes encode_command(const Command& command);
Result<Command> decode_command(ByteView payload);

}  // namespace praetor::catalog
