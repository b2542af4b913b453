#include "core/node/local_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/base/assert.hpp"
#include "core/base/duration.hpp"

namespace praetor::node {
namespace {

using catalog::HealthStatus;
using json = nlohmann::json;

// Consul's texts for maintenance checks.
constexpr std::string_view kNodeMaintName = "Node Maintenance Mode";
constexpr std::string_view kServiceMaintName = "Service Maintenance Mode";
constexpr std::string_view kNodeMaintDefaultReason =
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default "
    "message.";
constexpr std::string_view kServiceMaintDefaultReason =
    "Maintenance mode is enabled for this service, but no reason was provided. This is a "
    "default message.";
// A failed catalog write is tried again after this long, not in a tight loop while there is no
// leader.
constexpr Duration kSyncRetry = Duration::seconds(1);

constexpr Duration kScriptTimeout = Duration::seconds(30);  // Consul's script check default
constexpr Duration kProbeTimeout = Duration::seconds(10);   // HTTP and TCP checks

int rank(HealthStatus s) {
  switch (s) {
    case HealthStatus::kPassing: return 0;
    case HealthStatus::kWarning: return 1;
    case HealthStatus::kCritical: return 2;
  }
  return 2;
}

std::optional<HealthStatus> parse_status(std::string_view s) {
  if (s == "passing") return HealthStatus::kPassing;
  if (s == "warning") return HealthStatus::kWarning;
  if (s == "critical") return HealthStatus::kCritical;
  return std::nullopt;
}

std::string status_text(HealthStatus s) { return std::string(catalog::health_status_name(s)); }

CheckKind kind_of(const CheckDefinition& def) {
  if (def.ttl) return CheckKind::kTtl;
  if (!def.http.empty()) return CheckKind::kHttp;
  if (!def.tcp.empty()) return CheckKind::kTcp;
  return CheckKind::kScript;
}

// What decides a check's behaviour: two definitions that differ only in notes... are still
// different definitions (the catalog shows notes), so this is plain equality of every field.
bool same_definition(const CheckDefinition& a, const CheckDefinition& b) {
  return a.id == b.id && a.name == b.name && a.notes == b.notes && a.service_id == b.service_id &&
         a.status == b.status && a.args == b.args && a.http == b.http && a.method == b.method &&
         a.header == b.header && a.body == b.body && a.tls_skip_verify == b.tls_skip_verify &&
         a.tcp == b.tcp && a.ttl == b.ttl && a.interval == b.interval && a.timeout == b.timeout &&
         a.deregister_critical_service_after == b.deregister_critical_service_after &&
         a.success_before_passing == b.success_before_passing &&
         a.failures_before_warning == b.failures_before_warning &&
         a.failures_before_critical == b.failures_before_critical &&
         a.output_max_size == b.output_max_size;
}

bool same_service(const ServiceDefinition& a, const ServiceDefinition& b) {
  return a.id == b.id && a.name == b.name && a.tags == b.tags && a.address == b.address &&
         a.port == b.port && a.meta == b.meta && a.enable_tag_override == b.enable_tag_override &&
         a.weights.passing == b.weights.passing && a.weights.warning == b.weights.warning;
}

std::string cap_output(std::string output, std::size_t max) {
  if (output.size() > max) output.resize(max);
  return output;
}

Duration interval_of(const CheckDefinition& def) {
  Duration d = def.interval.value_or(Duration::seconds(10));
  return std::max(d, kMinCheckInterval);
}

}  // namespace

std::string_view check_kind_name(CheckKind kind) {
  switch (kind) {
    case CheckKind::kScript: return "script";
    case CheckKind::kHttp: return "http";
    case CheckKind::kTcp: return "tcp";
    case CheckKind::kTtl: return "ttl";
    case CheckKind::kMaintenance: return "maintenance";
  }
  return "";
}

CheckOutcome classify_result(const LocalCheck& check, const ExecResult& result) {
  const CheckDefinition& d = check.def;
  switch (check.kind) {
    case CheckKind::kScript: {
      if (result.timed_out) {
        const Duration timeout = d.timeout.value_or(kScriptTimeout);
        return {HealthStatus::kCritical,
                fmt::format("Timed out ({}) running check", format_go_duration(timeout))};
      }
      if (result.spawn_failed || result.exit_code < 0) {
        return {HealthStatus::kCritical, result.output};
      }
      // Consul's (and Nagios's) convention: 0 passing, 1 warning, anything else critical.
      const HealthStatus s = result.exit_code == 0   ? HealthStatus::kPassing
                             : result.exit_code == 1 ? HealthStatus::kWarning
                                                     : HealthStatus::kCritical;
      return {s, result.output};
    }
    case CheckKind::kHttp: {
      if (result.exit_code != 0) return {HealthStatus::kCritical, result.output};
      const int code = result.http_status;
      const HealthStatus s = code >= 200 && code <= 299 ? HealthStatus::kPassing
                             : code == 429             ? HealthStatus::kWarning
                                                       : HealthStatus::kCritical;
      const std::string method = d.method.empty() ? "GET" : d.method;
      return {s, fmt::format("HTTP {} {}: {} {} Output: {}", method, d.http, code,
                             result.http_reason, result.output)};
    }
    case CheckKind::kTcp:
      if (result.exit_code == 0) {
        return {HealthStatus::kPassing, fmt::format("TCP connect {}: Success", d.tcp)};
      }
      return {HealthStatus::kCritical, result.output};
    case CheckKind::kTtl:
    case CheckKind::kMaintenance: break;
  }
  return {check.status, check.output};
}

// ---- Definitions ----------------------------------------------------------------------------

Result<void> LocalState::validate_check(const CheckDefinition& def,
                                        DefinitionSource source) const {
  if (def.id.empty()) return make_error(ErrorCode::kInvalidArgument, "Missing check ID");
  if (def.name.empty()) return make_error(ErrorCode::kInvalidArgument, "Missing check name");
  if (!def.status.empty() && !parse_status(def.status)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Check status \"{}\" is invalid", def.status));
  }
  const int kinds = (def.args.empty() ? 0 : 1) + (def.http.empty() ? 0 : 1) +
                    (def.tcp.empty() ? 0 : 1) + (def.ttl ? 1 : 0);
  if (kinds != 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "Must provide TTL or Script/DockerContainerID/HTTP/TCP and Interval");
  }
  if (def.ttl) {
    if (def.ttl->count_ns() <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "TTL must be > 0 for TTL checks");
    }
  } else if (!def.interval || def.interval->count_ns() <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "Interval must be > 0 for Script, HTTP or TCP checks");
  }
  if (!def.args.empty()) {
    const bool allowed = options_.enable_script_checks ||
                         (source == DefinitionSource::kConfig && options_.enable_local_script_checks);
    if (!allowed) {
      // kUnavailable: the definition is valid, this agent does not run it (Consul answers 500).
      return make_error(ErrorCode::kUnavailable,
                        source == DefinitionSource::kApi
                            ? "Scripts are disabled on this agent from remote calls; to enable, "
                              "configure 'enable_script_checks' to true"
                            : "Scripts are disabled on this agent; to enable, configure "
                              "'enable_script_checks' or 'enable_local_script_checks' to true");
    }
  }
  if (!def.service_id.empty() && !services_.contains(def.service_id)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("ServiceID \"{}\" does not exist", def.service_id));
  }
  if (def.id.starts_with(kServiceMaintCheckPrefix) || def.id == kNodeMaintCheckId) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Check ID \"{}\" is reserved for maintenance mode", def.id));
  }
  return {};
}

Result<void> LocalState::add_service(ServiceDefinition def, DefinitionSource source, Instant now,
                                     Rng& rng, bool replace_existing_checks) {
  if (def.name.empty()) return make_error(ErrorCode::kInvalidArgument, "Missing service name");
  if (def.id.empty()) def.id = def.name;
  // Validate every check before changing anything: a registration is all or nothing.
  std::vector<CheckDefinition> checks = std::move(def.checks);
  def.checks.clear();
  const bool many = checks.size() > 1;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    CheckDefinition& c = checks[i];
    c.service_id = def.id;
    if (c.id.empty()) {
      c.id = many ? fmt::format("service:{}:{}", def.id, i + 1) : fmt::format("service:{}", def.id);
    }
    if (c.name.empty()) c.name = fmt::format("Service '{}' check", def.name);
    if (c.failures_before_warning == 0) c.failures_before_warning = c.failures_before_critical;
  }
  const bool existed = services_.contains(def.id);
  if (!existed) services_[def.id];  // so the checks' service_id validates
  for (const auto& c : checks) {
    if (auto ok = validate_check(c, source); !ok) {
      if (!existed) services_.erase(def.id);
      return ok;
    }
    if (auto it = checks_.find(c.id); it != checks_.end() && it->second.def.service_id != def.id) {
      if (!existed) services_.erase(def.id);
      return make_error(ErrorCode::kConflict,
                        fmt::format("Check ID \"{}\" belongs to another service", c.id));
    }
  }
  LocalService& s = services_[def.id];
  const bool changed = !existed || !same_service(s.def, def) || s.source != source;
  s.def = std::move(def);
  s.source = source;
  if (changed) {
    s.in_sync = false;
    s.version = next_version_++;
  }
  stale_services_.erase(s.def.id);
  std::set<std::string> named;
  for (const auto& c : checks) named.insert(c.id);
  for (auto it = checks_.begin(); it != checks_.end();) {
    if (replace_existing_checks && it->second.def.service_id == s.def.id &&
        it->second.kind != CheckKind::kMaintenance && !named.contains(it->first)) {
      std::erase_if(runs_, [&](const auto& r) { return r.second == it->first; });
      stale_checks_.insert(it->first);
      it = checks_.erase(it);
      s.in_sync = false;
      s.version = next_version_++;
    } else {
      ++it;
    }
  }
  for (auto& c : checks) {
    const CheckKind kind = kind_of(c);
    install_check(std::move(c), kind, source, now, rng);
  }
  if (source == DefinitionSource::kApi) ++persist_version_;
  return {};
}

bool LocalState::remove_service(const std::string& id) {
  auto it = services_.find(id);
  if (it == services_.end()) return false;
  if (it->second.source == DefinitionSource::kApi) ++persist_version_;
  for (auto c = checks_.begin(); c != checks_.end();) {
    if (c->second.def.service_id == id) {
      if (c->second.source == DefinitionSource::kApi) ++persist_version_;
      c = checks_.erase(c);
    } else {
      ++c;
    }
  }
  std::erase_if(runs_, [&](const auto& r) { return !checks_.contains(r.second); });
  services_.erase(it);
  stale_services_.insert(id);  // the catalog still has it until the deregistration is synced
  return true;
}

Result<void> LocalState::add_check(CheckDefinition def, DefinitionSource source, Instant now,
                                   Rng& rng) {
  if (def.id.empty()) def.id = def.name;
  if (def.failures_before_warning == 0) def.failures_before_warning = def.failures_before_critical;
  if (auto ok = validate_check(def, source); !ok) return ok;
  const CheckKind kind = kind_of(def);
  install_check(std::move(def), kind, source, now, rng);
  if (source == DefinitionSource::kApi) ++persist_version_;
  return {};
}

void LocalState::install_check(CheckDefinition def, CheckKind kind, DefinitionSource source,
                               Instant now, Rng& rng) {
  stale_checks_.erase(def.id);
  auto it = checks_.find(def.id);
  if (it != checks_.end() && it->second.kind == kind && same_definition(it->second.def, def)) {
    it->second.source = source;  // unchanged: keeps status, output and schedule
    return;
  }
  if (it != checks_.end()) {
    std::erase_if(runs_, [&](const auto& r) { return r.second == def.id; });
    checks_.erase(it);
  }
  LocalCheck& c = checks_[def.id];
  c.kind = kind;
  c.source = source;
  c.status = def.status.empty() ? HealthStatus::kCritical : *parse_status(def.status);
  c.def = std::move(def);
  if (c.status == HealthStatus::kCritical) c.critical_since = now;
  touch_check(c);
  c.status_changed = true;
  if (kind == CheckKind::kTtl) {
    c.ttl_expires = now + *c.def.ttl;
  } else if (kind != CheckKind::kMaintenance) {
    schedule_first_run(c, now, rng);
  }
}

void LocalState::schedule_first_run(LocalCheck& c, Instant now, Rng& rng) {
  // Consul staggers a check's first run over its interval so that checks registered together
  // (an agent start, a reload) do not all run in the same instant.
  const Duration interval = interval_of(c.def);
  c.next_run = now + rng.between(Duration::zero(), interval);
}

void LocalState::touch_check(LocalCheck& c) {
  c.in_sync = false;
  c.version = next_version_++;
}

bool LocalState::remove_check(const std::string& id) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return false;
  if (it->second.source == DefinitionSource::kApi) ++persist_version_;
  if (!it->second.def.service_id.empty()) {
    // The service is registered with its checks: its next sync carries one check fewer, and the
    // catalog's copy of the check is deregistered on its own.
    if (auto s = services_.find(it->second.def.service_id); s != services_.end()) {
      s->second.in_sync = false;
      s->second.version = next_version_++;
    }
  }
  std::erase_if(runs_, [&](const auto& r) { return r.second == id; });
  checks_.erase(it);
  stale_checks_.insert(id);
  return true;
}

Result<void> LocalState::apply_config(const std::vector<ServiceDefinition>& services,
                                      const std::vector<CheckDefinition>& checks, Instant now,
                                      Rng& rng) {
  // Validate on a copy first, so an invalid configuration changes nothing.
  {
    LocalState trial = *this;
    Rng trial_rng = rng;
    if (auto ok = trial.apply_config_unchecked(services, checks, now, trial_rng); !ok) return ok;
  }
  return apply_config_unchecked(services, checks, now, rng);
}

Result<void> LocalState::apply_config_unchecked(const std::vector<ServiceDefinition>& services,
                                                const std::vector<CheckDefinition>& checks,
                                                Instant now, Rng& rng) {
  std::set<std::string> want_services;
  std::set<std::string> want_checks;
  for (const auto& s : services) {
    const std::string id = s.id.empty() ? s.name : s.id;
    want_services.insert(id);
  }
  for (const auto& c : checks) want_checks.insert(c.id.empty() ? c.name : c.id);
  std::vector<std::string> gone_services;
  for (const auto& [id, s] : services_) {
    if (s.source == DefinitionSource::kConfig && !want_services.contains(id)) {
      gone_services.push_back(id);
    }
  }
  for (const auto& id : gone_services) remove_service(id);
  std::vector<std::string> gone_checks;
  for (const auto& [id, c] : checks_) {
    if (c.source == DefinitionSource::kConfig && c.def.service_id.empty() &&
        !want_checks.contains(id)) {
      gone_checks.push_back(id);
    }
  }
  for (const auto& id : gone_checks) remove_check(id);
  for (const auto& s : services) {
    if (auto ok = add_service(s, DefinitionSource::kConfig, now, rng); !ok) {
      return make_error(ok.error().code,
                        fmt::format("service \"{}\": {}", s.id.empty() ? s.name : s.id,
                                    ok.error().message));
    }
  }
  for (const auto& c : checks) {
    if (auto ok = add_check(c, DefinitionSource::kConfig, now, rng); !ok) {
      return make_error(ok.error().code, fmt::format("check \"{}\": {}", c.id.empty() ? c.name : c.id,
                                                     ok.error().message));
    }
  }
  return {};
}

Result<void> LocalState::update_ttl(const std::string& id, HealthStatus status, std::string output,
                                    Instant now) {
  auto it = checks_.find(id);
  if (it == checks_.end()) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("Unknown check ID \"{}\". Ensure that the check ID is passed, "
                                  "not the check name.",
                                  id));
  }
  LocalCheck& c = it->second;
  if (c.kind != CheckKind::kTtl) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("CheckID \"{}\" does not have associated TTL", id));
  }
  set_status(c, status, cap_output(std::move(output), c.def.output_max_size), now);
  c.ttl_expires = now + *c.def.ttl;
  if (c.source == DefinitionSource::kApi) ++persist_version_;
  return {};
}

void LocalState::set_status(LocalCheck& c, HealthStatus status, std::string output, Instant now) {
  if (status == c.status && output == c.output) return;
  if (status != c.status) {
    c.status_changed = true;
    c.critical_since = status == HealthStatus::kCritical ? now : Instant::never();
    if (status_changes_.size() < kMaxStatusChanges) {
      status_changes_.push_back(StatusChange{c.def.id, status});
    }
  }
  c.status = status;
  c.output = std::move(output);
  touch_check(c);
}

void LocalState::set_node_maintenance(bool enable, const std::string& reason, Instant now) {
  const std::string id(kNodeMaintCheckId);
  if (!enable) {
    remove_check(id);
    return;
  }
  if (checks_.contains(id)) return;
  CheckDefinition def;
  def.id = id;
  def.name = kNodeMaintName;
  def.notes = reason.empty() ? std::string(kNodeMaintDefaultReason) : reason;
  def.status = "critical";
  Rng unused(0);
  install_check(std::move(def), CheckKind::kMaintenance, DefinitionSource::kApi, now, unused);
  ++persist_version_;
}

Result<void> LocalState::set_service_maintenance(const std::string& service_id, bool enable,
                                                 const std::string& reason, Instant now) {
  if (!services_.contains(service_id)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("No service registered with ID \"{}\"", service_id));
  }
  const std::string id = fmt::format("{}{}", kServiceMaintCheckPrefix, service_id);
  if (!enable) {
    remove_check(id);
    return {};
  }
  if (checks_.contains(id)) return {};
  CheckDefinition def;
  def.id = id;
  def.name = kServiceMaintName;
  def.notes = reason.empty() ? std::string(kServiceMaintDefaultReason) : reason;
  def.service_id = service_id;
  def.status = "critical";
  Rng unused(0);
  install_check(std::move(def), CheckKind::kMaintenance, DefinitionSource::kApi, now, unused);
  ++persist_version_;
  return {};
}

bool LocalState::node_in_maintenance() const {
  return checks_.contains(std::string(kNodeMaintCheckId));
}

// ---- Running checks -----------------------------------------------------------------------

ExecSpec LocalState::exec_spec(const LocalCheck& c) const {
  ExecSpec spec;
  spec.output_max_bytes = c.def.output_max_size;
  switch (c.kind) {
    case CheckKind::kScript:
      spec.kind = ExecSpec::Kind::kArgs;
      spec.args = c.def.args;
      spec.timeout = c.def.timeout.value_or(kScriptTimeout);
      break;
    case CheckKind::kHttp:
      spec.kind = ExecSpec::Kind::kHttp;
      spec.http.url = c.def.http;
      spec.http.method = c.def.method.empty() ? "GET" : c.def.method;
      spec.http.header = c.def.header;
      spec.http.body = c.def.body;
      spec.http.tls_skip_verify = c.def.tls_skip_verify;
      spec.timeout = c.def.timeout.value_or(kProbeTimeout);
      break;
    case CheckKind::kTcp:
      spec.kind = ExecSpec::Kind::kTcp;
      spec.tcp = c.def.tcp;
      spec.timeout = c.def.timeout.value_or(kProbeTimeout);
      break;
    case CheckKind::kTtl:
    case CheckKind::kMaintenance: PRAETOR_UNREACHABLE();
  }
  return spec;
}

std::vector<CheckRun> LocalState::take_due_runs(Instant now, std::size_t max_runs) {
  std::vector<std::pair<Instant, LocalCheck*>> due;
  for (auto& [id, c] : checks_) {
    if (!c.running && c.next_run <= now) due.emplace_back(c.next_run, &c);
  }
  if (due.size() > max_runs) {
    std::partial_sort(due.begin(), due.begin() + static_cast<std::ptrdiff_t>(max_runs), due.end(),
                      [](const auto& a, const auto& b) { return a.first < b.first; });
    due.resize(max_runs);
  }
  std::vector<CheckRun> out;
  out.reserve(due.size());
  for (auto& [at, c] : due) {
    c->running = true;
    c->due = at;
    c->next_run = Instant::never();
    c->run = CheckRunId(next_run_++);
    runs_[c->run] = c->def.id;
    out.push_back(CheckRun{c->run, c->def.id, exec_spec(*c)});
  }
  return out;
}

static Instant next_phase(Instant due, Duration interval, Instant now) {
  // A check keeps the phase its first (jittered) run gave it: the next run is an interval after
  // the last one was due, so checks registered together stay spread over the interval even when
  // the host was slow to start or to report them (D48). A run that overran its interval skips
  // the starts it missed: a check never overlaps itself.
  Instant next = due + interval;
  if (next > now) return next;
  const std::int64_t missed = (now - due).count_ns() / interval.count_ns();
  return due + Duration::nanoseconds(interval.count_ns() * (missed + 1));
}

void LocalState::on_run_result(CheckRunId id, const ExecResult& result, Instant now) {
  auto r = runs_.find(id);
  if (r == runs_.end()) return;
  const std::string check_id = r->second;
  runs_.erase(r);
  auto it = checks_.find(check_id);
  if (it == checks_.end() || it->second.run != id) return;
  LocalCheck& c = it->second;
  c.running = false;
  c.next_run = next_phase(c.due, interval_of(c.def), now);
  CheckOutcome outcome = classify_result(c, result);
  outcome.output = cap_output(std::move(outcome.output), c.def.output_max_size);
  // Consul's status handler: a warning counts as a success here (it is not a failure of the
  // service), and the counters only hold back a change of status, never an output update.
  if (outcome.status != HealthStatus::kCritical) {
    ++c.successes;
    c.failures = 0;
    if (c.successes >= c.def.success_before_passing) {
      set_status(c, outcome.status, std::move(outcome.output), now);
    }
    return;
  }
  ++c.failures;
  c.successes = 0;
  if (c.failures >= c.def.failures_before_critical) {
    set_status(c, HealthStatus::kCritical, std::move(outcome.output), now);
  } else if (c.failures >= c.def.failures_before_warning) {
    set_status(c, HealthStatus::kWarning, std::move(outcome.output), now);
  }
}

std::vector<std::string> LocalState::expire(Instant now) {
  for (auto& [id, c] : checks_) {
    if (c.kind == CheckKind::kTtl && c.ttl_expires <= now) {
      c.ttl_expires = Instant::never();  // stays critical until the next update
      set_status(c, HealthStatus::kCritical, "TTL expired", now);
    }
  }
  std::set<std::string> reap;
  for (const auto& [id, c] : checks_) {
    if (c.def.service_id.empty() || !c.def.deregister_critical_service_after) continue;
    if (c.status == HealthStatus::kCritical && c.critical_since != Instant::never() &&
        c.critical_since + *c.def.deregister_critical_service_after <= now) {
      reap.insert(c.def.service_id);
    }
  }
  return {reap.begin(), reap.end()};
}

Instant LocalState::next_deadline() const {
  Instant at = Instant::never();
  for (const auto& [id, c] : checks_) {
    at = std::min(at, c.next_run);
    at = std::min(at, c.ttl_expires);
    if (c.def.deregister_critical_service_after && c.critical_since != Instant::never() &&
        !c.def.service_id.empty()) {
      at = std::min(at, c.critical_since + *c.def.deregister_critical_service_after);
    }
  }
  // Writes waiting to be handed out (never those in flight: their answer is the next event, and
  // counting them would wake the agent in a loop while it waits).
  auto flying = [&](SyncOp::Kind kind, const std::string& id) {
    return in_flight_.contains({kind, id});
  };
  const Instant hold = sync_hold_until_;
  if (!node_in_sync_ && !flying(SyncOp::Kind::kNode, "")) at = std::min(at, hold);
  for (const auto& id : stale_services_) {
    if (!flying(SyncOp::Kind::kDeregisterService, id)) at = std::min(at, hold);
  }
  for (const auto& id : stale_checks_) {
    if (!flying(SyncOp::Kind::kDeregisterCheck, id)) at = std::min(at, hold);
  }
  for (const auto& [id, s] : services_) {
    if (!s.in_sync && !flying(SyncOp::Kind::kService, id)) at = std::min(at, hold);
  }
  for (const auto& [id, c] : checks_) {
    if (c.in_sync) continue;
    const bool in_air = c.def.service_id.empty() ? flying(SyncOp::Kind::kCheck, id)
                                                 : flying(SyncOp::Kind::kService, c.def.service_id);
    if (in_air) continue;
    at = std::min(at, c.status_changed
                          ? hold
                          : std::max(hold, c.synced_at + options_.check_update_interval));
  }
  return at;
}

// ---- Anti-entropy -------------------------------------------------------------------------

std::vector<SyncOp> LocalState::pending_sync(Instant now) {
  std::vector<SyncOp> out;
  if (now < sync_hold_until_) return out;
  const std::uint64_t watermark = next_version_ - 1;
  auto want = [&](SyncOp::Kind kind, const std::string& id) {
    if (in_flight_.contains({kind, id})) return;
    in_flight_[{kind, id}] = watermark;
    out.push_back(SyncOp{kind, id, watermark});
  };
  if (!node_in_sync_) want(SyncOp::Kind::kNode, "");
  std::set<std::string> services_due;
  for (const auto& [id, s] : services_) {
    if (!s.in_sync) services_due.insert(id);
  }
  for (const auto& [id, c] : checks_) {
    if (c.in_sync) continue;
    // Only the output changed: wait for check_update_interval since the last sync.
    if (!c.status_changed && now < c.synced_at + options_.check_update_interval) continue;
    if (c.def.service_id.empty()) {
      want(SyncOp::Kind::kCheck, id);
    } else {
      services_due.insert(c.def.service_id);
    }
  }
  for (const auto& id : services_due) want(SyncOp::Kind::kService, id);
  for (const auto& id : stale_services_) want(SyncOp::Kind::kDeregisterService, id);
  for (const auto& id : stale_checks_) want(SyncOp::Kind::kDeregisterCheck, id);
  return out;
}

void LocalState::sync_done(const SyncOp& op, bool ok, Instant now) {
  auto flight = in_flight_.find({op.kind, op.id});
  if (flight == in_flight_.end() || flight->second != op.version) return;
  in_flight_.erase(flight);
  if (!ok) {
    sync_hold_until_ = now + kSyncRetry;
    return;
  }
  auto mark_check = [&](LocalCheck& c) {
    if (c.version > op.version) return;  // changed while the write was in flight
    c.in_sync = true;
    c.status_changed = false;
    c.synced_at = now;
  };
  switch (op.kind) {
    case SyncOp::Kind::kNode:
      if (node_version_ <= op.version) node_in_sync_ = true;
      break;
    case SyncOp::Kind::kService:
      if (auto s = services_.find(op.id); s != services_.end()) {
        if (s->second.version <= op.version) s->second.in_sync = true;
        for (auto& [id, c] : checks_) {
          if (c.def.service_id == op.id) mark_check(c);
        }
      }
      break;
    case SyncOp::Kind::kCheck:
      if (auto c = checks_.find(op.id); c != checks_.end()) mark_check(c->second);
      break;
    case SyncOp::Kind::kDeregisterService:
      if (!services_.contains(op.id)) stale_services_.erase(op.id);
      break;
    case SyncOp::Kind::kDeregisterCheck:
      if (!checks_.contains(op.id)) stale_checks_.erase(op.id);
      break;
  }
}

void LocalState::reset_in_flight() { in_flight_.clear(); }

bool LocalState::all_in_sync() const {
  if (!node_in_sync_ || !stale_services_.empty() || !stale_checks_.empty()) return false;
  for (const auto& [id, s] : services_) {
    if (!s.in_sync) return false;
  }
  for (const auto& [id, c] : checks_) {
    if (!c.in_sync) return false;
  }
  return true;
}

catalog::ServiceDef LocalState::service_def(const LocalService& s) const {
  catalog::ServiceDef d;
  d.id = s.def.id;
  d.name = s.def.name;
  d.tags = s.def.tags;
  d.address = s.def.address;
  d.port = static_cast<std::uint32_t>(s.def.port);
  d.meta = s.def.meta;
  d.weight_passing = static_cast<std::uint32_t>(s.def.weights.passing);
  d.weight_warning = static_cast<std::uint32_t>(s.def.weights.warning);
  d.enable_tag_override = s.def.enable_tag_override;
  return d;
}

catalog::CheckDef LocalState::check_def(const LocalCheck& c) const {
  catalog::CheckDef d;
  d.node = options_.node_name;
  d.check_id = c.def.id;
  d.name = c.def.name;
  d.status = c.status;
  d.notes = c.def.notes;
  d.output = c.output;
  d.service_id = c.def.service_id;
  d.type = std::string(check_kind_name(c.kind));
  if (c.def.interval) d.interval = format_go_duration(*c.def.interval);
  if (c.def.timeout) d.timeout = format_go_duration(*c.def.timeout);
  return d;
}

void LocalState::full_sync_against(const RemoteNodeState& remote, const LocalNodeInfo& node) {
  const bool node_same = remote.node && remote.node->name == node.def.name &&
                         remote.node->address == node.def.address &&
                         remote.node->id == node.def.id &&
                         remote.node->tagged_addresses == node.def.tagged_addresses &&
                         remote.node->meta == node.def.meta;
  if (!node_same) {
    node_in_sync_ = false;
    node_version_ = next_version_++;
  }
  for (auto& [id, s] : services_) {
    auto r = remote.services.find(id);
    if (r == remote.services.end() || !(r->second == service_def(s))) {
      s.in_sync = false;
      s.version = next_version_++;
    }
  }
  for (auto& [id, c] : checks_) {
    auto r = remote.checks.find(id);
    const catalog::CheckDef mine = check_def(c);
    if (r == remote.checks.end() || r->second.status != mine.status ||
        r->second.name != mine.name || r->second.notes != mine.notes ||
        r->second.service_id != mine.service_id) {
      c.status_changed = true;
      touch_check(c);
    } else if (r->second.output != mine.output) {
      touch_check(c);  // output only: deferred by check_update_interval
    }
  }
  // What the catalog has and the agent does not. The servers own serfHealth and, on servers,
  // the `consul` service (reconcile.cpp): never deregister those.
  for (const auto& [id, svc] : remote.services) {
    if (id != "consul" && !services_.contains(id)) stale_services_.insert(id);
  }
  for (const auto& [id, chk] : remote.checks) {
    if (id == "serfHealth" || checks_.contains(id)) continue;
    if (!chk.service_id.empty() && (stale_services_.contains(chk.service_id) ||
                                    !services_.contains(chk.service_id))) {
      continue;  // goes with its service
    }
    stale_checks_.insert(id);
  }
}

// ---- Queries ------------------------------------------------------------------------------

const LocalService* LocalState::service(const std::string& id) const {
  auto it = services_.find(id);
  return it == services_.end() ? nullptr : &it->second;
}

const LocalCheck* LocalState::check(const std::string& id) const {
  auto it = checks_.find(id);
  return it == checks_.end() ? nullptr : &it->second;
}

std::vector<const LocalCheck*> LocalState::service_checks(const std::string& service_id) const {
  std::vector<const LocalCheck*> out;
  for (const auto& [id, c] : checks_) {
    if (c.def.service_id == service_id) out.push_back(&c);
  }
  return out;
}

HealthStatus LocalState::aggregate_status(const std::string& service_id) const {
  HealthStatus worst = HealthStatus::kPassing;
  for (const auto& [id, c] : checks_) {
    if (c.def.service_id.empty() || c.def.service_id == service_id) {
      if (rank(c.status) > rank(worst)) worst = c.status;
    }
  }
  return worst;
}

// ---- Persistence --------------------------------------------------------------------------
// The file holds the API registrations in the shape of a configuration file ("services",
// "checks"), so the configuration reader validates them when they are loaded back, and the
// last known status of each check (a TTL check keeps its status across a restart, with a fresh
// TTL).

std::string LocalState::persisted_json() const {
  json services = json::array();
  json checks = json::array();
  json states = json::object();
  auto duration = [](const std::optional<Duration>& d) -> json {
    return d ? json(format_go_duration(*d)) : json();
  };
  for (const auto& [id, s] : services_) {
    if (s.source != DefinitionSource::kApi) continue;
    json j = {{"id", s.def.id},
              {"name", s.def.name},
              {"tags", s.def.tags},
              {"address", s.def.address},
              {"port", s.def.port},
              {"meta", s.def.meta},
              {"enable_tag_override", s.def.enable_tag_override},
              {"weights", {{"passing", s.def.weights.passing}, {"warning", s.def.weights.warning}}}};
    services.push_back(std::move(j));
  }
  for (const auto& [id, c] : checks_) {
    if (c.source != DefinitionSource::kApi) continue;
    const CheckDefinition& d = c.def;
    states[id] = {{"status", status_text(c.status)}, {"output", c.output}};
    if (c.kind == CheckKind::kMaintenance) {
      json j = {{"id", d.id}, {"notes", d.notes}, {"service_id", d.service_id}};
      states[id]["maintenance"] = j;
      continue;
    }
    json j = {{"id", d.id}, {"name", d.name}, {"notes", d.notes}, {"service_id", d.service_id},
              {"status", d.status}};
    if (!d.args.empty()) j["args"] = d.args;
    if (!d.http.empty()) {
      j["http"] = d.http;
      j["method"] = d.method;
      j["header"] = d.header;
      j["body"] = d.body;
      j["tls_skip_verify"] = d.tls_skip_verify;
    }
    if (!d.tcp.empty()) j["tcp"] = d.tcp;
    for (auto [key, value] : {std::pair{"ttl", &d.ttl}, std::pair{"interval", &d.interval},
                              std::pair{"timeout", &d.timeout},
                              std::pair{"deregister_critical_service_after",
                                        &d.deregister_critical_service_after}}) {
      if (*value) j[key] = duration(*value);
    }
    j["success_before_passing"] = d.success_before_passing;
    j["failures_before_warning"] = d.failures_before_warning;
    j["failures_before_critical"] = d.failures_before_critical;
    j["output_max_size"] = d.output_max_size;
    checks.push_back(std::move(j));
  }
  json doc = {{"version", 1},
              {"definitions",
               {{"enable_script_checks", true}, {"services", services}, {"checks", checks}}},
              {"states", states}};
  return doc.dump(2);
}

Result<void> LocalState::load_persisted(std::string_view text, Instant now, Rng& rng) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("definitions") ||
      !doc["definitions"].is_object()) {
    return make_error(ErrorCode::kCorruption, "not a praetor local state file");
  }
  LoadOptions lo;
  lo.require_data_dir = false;
  json definitions = doc["definitions"];
  // The reader checks a whole agent configuration; the file holds only definitions.
  definitions["node_name"] = options_.node_name.empty() ? "local" : options_.node_name;
  auto parsed = load_config({ConfigSource{"local state", definitions.dump()}}, lo);
  if (!parsed) return parsed.error();
  for (auto& s : parsed->services) {
    if (auto ok = add_service(std::move(s), DefinitionSource::kApi, now, rng); !ok) return ok;
  }
  for (auto& c : parsed->checks) {
    if (auto ok = add_check(std::move(c), DefinitionSource::kApi, now, rng); !ok) return ok;
  }
  const json& states = doc.value("states", json::object());
  if (!states.is_object()) return make_error(ErrorCode::kCorruption, "states is not an object");
  for (const auto& [id, st] : states.items()) {
    if (!st.is_object()) continue;
    if (st.contains("maintenance") && st["maintenance"].is_object()) {
      const json& m = st["maintenance"];
      const std::string sid = m.value("service_id", std::string());
      const std::string notes = m.value("notes", std::string());
      if (sid.empty()) {
        set_node_maintenance(true, notes, now);
      } else if (auto ok = set_service_maintenance(sid, true, notes, now); !ok) {
        return ok;
      }
      continue;
    }
    auto it = checks_.find(id);
    if (it == checks_.end() || it->second.kind != CheckKind::kTtl) continue;
    auto status = parse_status(st.value("status", std::string()));
    if (!status) continue;
    set_status(it->second, *status, st.value("output", std::string()), now);
  }
  return {};
}

void LocalState::check_invariants() const {
  PRAETOR_ASSERT(status_changes_.size() <= kMaxStatusChanges);
  for (const auto& [id, c] : checks_) {
    PRAETOR_ASSERT(id == c.def.id);
    PRAETOR_ASSERT_MSG(c.def.service_id.empty() || services_.contains(c.def.service_id),
                       "check {} names missing service {}", id, c.def.service_id);
    PRAETOR_ASSERT(!c.running || c.next_run == Instant::never());
    if (c.running) {
      auto r = runs_.find(c.run);
      PRAETOR_ASSERT(r != runs_.end() && r->second == id);
    }
    PRAETOR_ASSERT(c.version < next_version_);
  }
  for (const auto& [id, s] : services_) PRAETOR_ASSERT(id == s.def.id);
  for (const auto& [key, version] : in_flight_) PRAETOR_ASSERT(version < next_version_);
}

}  // namespace praetor::node
