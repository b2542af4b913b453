// The agent's local state: the services and checks this agent carries (from config files and
// from /v1/agent/*), when each check runs and what its results mean, maintenance mode, and what
// of all this the catalog has not yet been told (anti-entropy). Pure: it is driven with the time
// and the results of check runs, and answers with the runs to start and the catalog writes to
// make; the agent carries them out (env.exec, the commit path through a server).
//
// Checks. A check starts critical unless its definition says otherwise; a TTL check waits for
// pass/warn/fail and goes critical ("TTL expired") when none comes in time; every other check
// runs first after a random fraction of its interval (so checks registered together do not run
// together), then `interval` after the previous run finished, so a check never overlaps itself.
// A result becomes the check's status through Consul's counters: success_before_passing
// consecutive passing (or warning) results to turn passing, failures_before_warning consecutive
// failures to turn warning, failures_before_critical to turn critical.
//
// Anti-entropy (Consul's agent/local sync). Every service and check carries in_sync: false when
// it changed here since the catalog last confirmed it. The agent asks for pending_sync() after
// every change and writes what it returns; a status change is synced at once, a change of output
// alone waits until check_update_interval has passed since the check was last synced (Consul
// defers those to spare the servers). A full sync compares everything with what the catalog
// holds for this node (full_sync_against) and marks what differs, including what the catalog
// has and the agent does not (deregistered, except the checks and services the servers manage:
// serfHealth and the `consul` service).
//
// Invariants (check_invariants): every check's service exists; a running check is not also due;
// every sync in flight names an item's version that existed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/ids.hpp"
#include "core/base/instant.hpp"
#include "core/base/result.hpp"
#include "core/base/rng.hpp"
#include "core/catalog/command.hpp"
#include "core/catalog/state.hpp"
#include "core/node/config.hpp"
#include "core/node/env.hpp"

namespace praetor::node {

inline constexpr std::string_view kNodeMaintCheckId = "_node_maintenance";
inline constexpr std::string_view kServiceMaintCheckPrefix = "_service_maintenance:";
inline constexpr Duration kMinCheckInterval = Duration::seconds(1);  // Consul's MinInterval

// Where a definition came from: config files are reloaded by diff; API registrations persist in
// data_dir (local_state_file) and survive a restart.
enum class DefinitionSource : std::uint8_t { kConfig, kApi };

enum class CheckKind : std::uint8_t { kScript, kHttp, kTcp, kTtl, kMaintenance };
std::string_view check_kind_name(CheckKind kind);  // the catalog's Type: "script", "http", ...

struct LocalService {
  ServiceDefinition def;  // def.checks is empty here: the checks live in LocalState::checks()
  DefinitionSource source = DefinitionSource::kApi;
  bool in_sync = false;
  std::uint64_t version = 0;  // bumped by every local change
};

struct LocalCheck {
  CheckDefinition def;  // id, name and service_id filled in
  CheckKind kind = CheckKind::kTtl;
  DefinitionSource source = DefinitionSource::kApi;
  catalog::HealthStatus status = catalog::HealthStatus::kCritical;
  std::string output;
  // Sync state.
  bool in_sync = false;
  bool status_changed = false;       // since the last sync: sync at once
  Instant synced_at = Instant::zero();  // when the catalog last confirmed this check
  std::uint64_t version = 0;
  // Scheduling (script, http, tcp).
  Instant next_run = Instant::never();
  Instant due = Instant::never();  // when the current (or last) run was scheduled to start
  bool running = false;
  CheckRunId run{0};
  int successes = 0;  // consecutive passing/warning results
  int failures = 0;   // consecutive critical results
  // TTL.
  Instant ttl_expires = Instant::never();
  // deregister_critical_service_after: since when the check has been critical.
  Instant critical_since = Instant::never();
};

// A catalog write anti-entropy wants made. The agent turns it into a registration and reports
// the outcome with sync_done(). `version` lets a late success for an item changed since count
// for nothing.
struct SyncOp {
  enum class Kind : std::uint8_t {
    kNode,                // the node itself (address, tagged addresses, meta)
    kService,             // a service with its checks
    kCheck,               // a node-level check
    kDeregisterService,   // the catalog has a service the agent does not
    kDeregisterCheck,     // the catalog has a check the agent does not
  };
  Kind kind = Kind::kNode;
  std::string id;  // service or check id; "" for kNode
  std::uint64_t version = 0;
  friend bool operator==(const SyncOp&, const SyncOp&) = default;
};

// What the catalog holds for this agent's node, as the full sync reads it.
struct RemoteNodeState {
  std::optional<catalog::NodeDef> node;
  std::map<std::string, catalog::ServiceDef> services;  // by id
  std::map<std::string, catalog::CheckDef> checks;      // by id
};

// The agent's own node as anti-entropy registers it.
struct LocalNodeInfo {
  catalog::NodeDef def;
};

struct CheckRun {
  CheckRunId id;
  std::string check_id;
  ExecSpec spec;
};

class LocalState {
 public:
  struct Options {
    std::string node_name;
    Duration check_update_interval = Duration::minutes(5);
    // Script checks: allowed from any source, or from config files only (Consul's
    // enable_script_checks / enable_local_script_checks).
    bool enable_script_checks = false;
    bool enable_local_script_checks = false;
  };

  explicit LocalState(Options options) : options_(std::move(options)) {}
  void set_options(Options options) { options_ = std::move(options); }
  const Options& options() const { return options_; }

  // ---- Definitions ------------------------------------------------------------------------------
  // Adds or replaces a service and the checks in its definition. With replace_existing_checks
  // (always for config files; ?replace-existing-checks over HTTP) the service's checks that the
  // new definition does not name are removed; otherwise they stay. Errors carry Consul's texts;
  // on an error nothing has changed.
  Result<void> add_service(ServiceDefinition def, DefinitionSource source, Instant now, Rng& rng,
                           bool replace_existing_checks = true);
  // Removes the service and every check of it. False when there is no such service.
  bool remove_service(const std::string& id);
  // Adds or replaces a check. A replaced check whose definition is the same keeps its status,
  // output and schedule (a reload of an unchanged file changes nothing).
  Result<void> add_check(CheckDefinition def, DefinitionSource source, Instant now, Rng& rng);
  bool remove_check(const std::string& id);
  // Config files changed (reload, and at start): services and checks from config that are gone
  // are removed, new ones added, changed ones replaced; unchanged ones keep status and schedule.
  // API registrations are left alone. On an error nothing has changed.
  Result<void> apply_config(const std::vector<ServiceDefinition>& services,
                            const std::vector<CheckDefinition>& checks, Instant now, Rng& rng);

  // PUT /v1/agent/check/{pass,warn,fail}/<id> and /check/update/<id>: only TTL checks.
  Result<void> update_ttl(const std::string& id, catalog::HealthStatus status, std::string output,
                          Instant now);

  // Maintenance mode: a critical check that hides the node or the service.
  void set_node_maintenance(bool enable, const std::string& reason, Instant now);
  Result<void> set_service_maintenance(const std::string& service_id, bool enable,
                                       const std::string& reason, Instant now);
  bool node_in_maintenance() const;

  // ---- Running checks ---------------------------------------------------------------------------
  // The runs due at `now` (each check at most once, never one already running), the most
  // overdue first and at most `max_runs` of them: the rest stay due, so next_deadline() is
  // `now` and the agent takes them on its next turn, after the host has served other work.
  std::vector<CheckRun> take_due_runs(Instant now, std::size_t max_runs = kMaxStartsPerTurn);
  static constexpr std::size_t kMaxStartsPerTurn = 32;
  // A run's result. Unknown or stale runs (the check was removed or replaced) are ignored.
  void on_run_result(CheckRunId id, const ExecResult& result, Instant now);
  // TTLs expire. Returns the services to deregister because a check of theirs has been critical
  // longer than its deregister_critical_service_after (the agent removes them and logs it).
  std::vector<std::string> expire(Instant now);
  // The earliest instant something is due (a run, a TTL, a reap, a deferred sync).
  Instant next_deadline() const;
  // Status changes of checks since the last call, oldest first, for the agent's log (Consul's
  // `Check "x" is now critical`). At most kMaxStatusChanges are kept between calls.
  struct StatusChange {
    std::string check_id;
    catalog::HealthStatus status;
  };
  std::vector<StatusChange> take_status_changes() { return std::move(status_changes_); }
  static constexpr std::size_t kMaxStatusChanges = 1024;

  // ---- Anti-entropy -----------------------------------------------------------------------------
  // What to write now: items out of sync and not in flight (status changes at once, output-only
  // changes once check_update_interval has passed since the check's last sync), the node first,
  // deregistrations of what the catalog has and the agent does not.
  std::vector<SyncOp> pending_sync(Instant now);
  // The write for `op` succeeded (or failed: it is retried with the next sync).
  void sync_done(const SyncOp& op, bool ok, Instant now);
  // Compares everything with the catalog's view and marks what differs out of sync.
  void full_sync_against(const RemoteNodeState& remote, const LocalNodeInfo& node);
  // The node's registration changed (address, meta): sync it.
  void node_changed() {
    node_in_sync_ = false;
    node_version_ = next_version_++;
  }
  bool all_in_sync() const;
  // Forget every in-flight sync (a server change lost them): they are planned again.
  void reset_in_flight();

  // The catalog entries this state stands for.
  catalog::ServiceDef service_def(const LocalService& s) const;
  catalog::CheckDef check_def(const LocalCheck& c) const;

  // ---- Queries ----------------------------------------------------------------------------------
  const std::map<std::string, LocalService>& services() const { return services_; }
  const std::map<std::string, LocalCheck>& checks() const { return checks_; }
  const LocalService* service(const std::string& id) const;
  const LocalCheck* check(const std::string& id) const;
  // The checks of one service, by check id.
  std::vector<const LocalCheck*> service_checks(const std::string& service_id) const;
  // The worst status of the service's checks and the node's checks (Consul's agent health).
  catalog::HealthStatus aggregate_status(const std::string& service_id) const;

  // API registrations as JSON (persisted in data_dir), and back. Config definitions are not
  // written: they come from the files.
  std::string persisted_json() const;
  // Loads what persisted_json wrote; a damaged file is an error naming what is wrong.
  Result<void> load_persisted(std::string_view text, Instant now, Rng& rng);
  // Bumped by every change to an API registration: the agent rewrites the file when it moves.
  std::uint64_t persist_version() const { return persist_version_; }

  void check_invariants() const;

 private:
  Result<void> apply_config_unchecked(const std::vector<ServiceDefinition>& services,
                                      const std::vector<CheckDefinition>& checks, Instant now,
                                      Rng& rng);
  Result<void> validate_check(const CheckDefinition& def, DefinitionSource source) const;
  void install_check(CheckDefinition def, CheckKind kind, DefinitionSource source, Instant now,
                     Rng& rng);
  void set_status(LocalCheck& c, catalog::HealthStatus status, std::string output, Instant now);
  void schedule_first_run(LocalCheck& c, Instant now, Rng& rng);
  void touch_check(LocalCheck& c);
  ExecSpec exec_spec(const LocalCheck& c) const;

  Options options_;
  std::vector<StatusChange> status_changes_;
  std::map<std::string, LocalService> services_;
  std::map<std::string, LocalCheck> checks_;
  // What the catalog has and the agent does not (from the last full sync), to deregister.
  std::set<std::string> stale_services_;
  std::set<std::string> stale_checks_;
  bool node_in_sync_ = false;
  std::uint64_t node_version_ = 0;
  // Syncs handed out and not yet reported, by (kind, id): not handed out again meanwhile.
  std::map<std::pair<SyncOp::Kind, std::string>, std::uint64_t> in_flight_;
  std::map<CheckRunId, std::string> runs_;  // run -> check id
  Instant sync_hold_until_ = Instant::zero();  // after a failed write: wait before the next
  std::uint64_t next_run_ = 1;
  std::uint64_t next_version_ = 1;
  std::uint64_t persist_version_ = 0;
};

// How a run's result reads as a check status and output, by kind (Consul's texts).
struct CheckOutcome {
  catalog::HealthStatus status = catalog::HealthStatus::kCritical;
  std::string output;
};
CheckOutcome classify_result(const LocalCheck& check, const ExecResult& result);

}  // namespace praetor::node
