// The agent's side of its local services and checks (LocalState): loading them from the
// configuration and from data_dir, running the checks through env.exec, and anti-entropy —
// writing to the catalog what it has not been told, and comparing it all with the catalog from
// time to time (Consul's agent/local sync).
//
// Catalog writes and reads go through the HTTP API the agent already serves, as internal
// requests: /v1/catalog/register on the leader, /v1/catalog/node/<node> and /v1/health/node/<node>
// for the full sync. A client agent's internal request is forwarded to a server like a user's,
// a follower's to the leader, so there is one path to the catalog and its rules (validation,
// limits, leadership) apply to anti-entropy too. Their answers come back through respond(), which
// hands answers to internal ids back here instead of to the host.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/base/assert.hpp"
#include "core/node/agent.hpp"
#include "core/node/json_read.hpp"

namespace praetor::node {
namespace {

using json = nlohmann::json;
using json_read::string_at;
using json_read::string_map_at;
using json_read::uint_at;

constexpr std::string_view kLocalStateFile = "local_state.json";
// Consul's anti-entropy interval for clusters up to 128 nodes; larger clusters scale it up so
// the servers see a bounded rate of full syncs.
constexpr Duration kFullSyncInterval = Duration::seconds(60);
constexpr Duration kFullSyncRetry = Duration::seconds(15);
constexpr std::uint64_t kInternalBit = std::uint64_t{1} << 62;
// An anti-entropy write not answered in this long is given up and tried again (it is idempotent:
// a registration that changes nothing moves no index), through another server when there is one.
// Much shorter than the forwarder's own timeout, so a crashed server delays a check's status by
// seconds, not by the forwarder's 20.
constexpr Duration kInternalTimeout = Duration::seconds(3);

std::string status_text(catalog::HealthStatus s) {
  return std::string(catalog::health_status_name(s));
}

json node_fields(const catalog::NodeDef& n) {
  return json{{"ID", n.id},
              {"Node", n.name},
              {"Address", n.address},
              {"Datacenter", n.datacenter},
              {"TaggedAddresses", n.tagged_addresses.empty() ? json::object()
                                                             : json(n.tagged_addresses)},
              {"NodeMeta", n.meta.empty() ? json::object() : json(n.meta)}};
}

json check_fields(const catalog::CheckDef& c) {
  return json{{"Node", c.node},       {"CheckID", c.check_id}, {"Name", c.name},
              {"Status", status_text(c.status)}, {"Notes", c.notes}, {"Output", c.output},
              {"ServiceID", c.service_id}, {"Type", c.type}, {"Interval", c.interval},
              {"Timeout", c.timeout}};
}

json service_fields(const catalog::ServiceDef& s) {
  return json{{"ID", s.id},
              {"Service", s.name},
              {"Tags", s.tags},
              {"Address", s.address},
              {"Port", s.port},
              {"Meta", s.meta.empty() ? json::object() : json(s.meta)},
              {"Weights", {{"Passing", s.weight_passing}, {"Warning", s.weight_warning}}},
              {"EnableTagOverride", s.enable_tag_override}};
}

// /v1/catalog/node/<node> and /v1/health/node/<node> as anti-entropy compares them.
RemoteNodeState remote_state(const json& node_doc, const json& checks_doc) {
  RemoteNodeState out;
  if (node_doc.is_object() && node_doc.contains("Node") && node_doc["Node"].is_object()) {
    const json& n = node_doc["Node"];
    catalog::NodeDef def;
    def.id = string_at(n, "ID");
    def.name = string_at(n, "Node");
    def.address = string_at(n, "Address");
    def.datacenter = string_at(n, "Datacenter");
    def.tagged_addresses = string_map_at(n, "TaggedAddresses");
    def.meta = string_map_at(n, "Meta");
    out.node = std::move(def);
    if (node_doc.contains("Services") && node_doc["Services"].is_object()) {
      for (const auto& [id, s] : node_doc["Services"].items()) {
        catalog::ServiceDef def_s;
        def_s.id = string_at(s, "ID");
        def_s.name = string_at(s, "Service");
        if (s.contains("Tags") && s["Tags"].is_array()) {
          for (const auto& t : s["Tags"]) {
            if (t.is_string()) def_s.tags.push_back(t.get<std::string>());
          }
        }
        def_s.address = string_at(s, "Address");
        def_s.port = uint_at(s, "Port", 0);
        def_s.meta = string_map_at(s, "Meta");
        if (s.contains("Weights") && s["Weights"].is_object()) {
          def_s.weight_passing = uint_at(s["Weights"], "Passing", 1);
          def_s.weight_warning = uint_at(s["Weights"], "Warning", 1);
        }
        auto eto = s.find("EnableTagOverride");
        def_s.enable_tag_override = eto != s.end() && eto->is_boolean() && eto->get<bool>();
        out.services[id] = std::move(def_s);
      }
    }
  }
  if (checks_doc.is_array()) {
    for (const auto& c : checks_doc) {
      if (!c.is_object()) continue;
      catalog::CheckDef def;
      def.node = string_at(c, "Node");
      def.check_id = string_at(c, "CheckID");
      def.name = string_at(c, "Name");
      const std::string status = string_at(c, "Status");
      def.status = status == "passing"   ? catalog::HealthStatus::kPassing
                   : status == "warning" ? catalog::HealthStatus::kWarning
                                         : catalog::HealthStatus::kCritical;
      def.notes = string_at(c, "Notes");
      def.output = string_at(c, "Output");
      def.service_id = string_at(c, "ServiceID");
      def.type = string_at(c, "Type");
      def.interval = string_at(c, "Interval");
      def.timeout = string_at(c, "Timeout");
      out.checks[def.check_id] = std::move(def);
    }
  }
  return out;
}

HttpRequest internal_request(std::string method, std::string path, std::string body = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = path;
  r.raw_path = std::move(path);
  r.body = std::move(body);
  r.remote = "anti-entropy";
  return r;
}

}  // namespace

LocalState::Options Agent::local_options() const {
  LocalState::Options o;
  o.node_name = config_.node_name;
  o.check_update_interval = config_.check_update_interval;
  o.enable_script_checks = config_.enable_script_checks;
  o.enable_local_script_checks = config_.enable_local_script_checks;
  return o;
}

catalog::NodeDef Agent::local_node_def() const {
  catalog::NodeDef n;
  n.id = node_id_;
  n.name = config_.node_name;
  n.address = advertise_address();
  n.datacenter = config_.datacenter;
  const std::string wan =
      config_.advertise_addr_wan.empty() ? n.address : config_.advertise_addr_wan;
  n.tagged_addresses = {{"lan", n.address}, {"lan_ipv4", n.address}, {"wan", wan},
                        {"wan_ipv4", wan}};
  if (n.address.find(':') != std::string::npos) {
    n.tagged_addresses = {{"lan", n.address}, {"lan_ipv6", n.address}, {"wan", wan},
                          {"wan_ipv6", wan}};
  }
  n.meta = config_.node_meta;
  return n;
}

void Agent::start_local(const StoredFiles& files) {
  const Instant now = env_->clock.now();
  // Its own stream, so that check jitter does not shift the ids (sessions, events) the agent's
  // main Rng hands out.
  local_rng_.reseed(env_->seed ^ 0x6c6f63616c);
  local_.set_options(local_options());
  if (auto ok = local_.apply_config(config_.services, config_.checks, now, local_rng_); !ok) {
    env_->logger.error("agent", "Error loading services and checks: {}", ok.error().message);
    stopping_ = true;
    env_->control.shutdown(1);
    return;
  }
  if (auto it = files.find(std::string(kLocalStateFile)); it != files.end()) {
    if (auto ok = local_.load_persisted(to_string(it->second), now, local_rng_); !ok) {
      // Consul logs a definition it cannot restore and starts without it; so do we.
      env_->logger.warn("agent", "could not restore services and checks from {}: {}",
                        kLocalStateFile, ok.error().message);
    }
  }
  local_persisted_ = local_.persist_version();
  for (const auto& [id, s] : local_.services()) {
    env_->logger.info("agent", "Added service \"{}\" ({})", id,
                      s.source == DefinitionSource::kConfig ? "config" : "restored");
  }
  // The first full sync runs at once: it registers the node and everything local.
  next_full_sync_ = now;
}

void Agent::local_wake(Instant now) {
  if (stopping_) return;
  expire_internal(now);
  for (const std::string& service : local_.expire(now)) {
    env_->logger.warn("agent",
                      "Check for service \"{}\" has been critical for too long; deregistered "
                      "service",
                      service);
    local_.remove_service(service);
  }
  for (CheckRun& run : local_.take_due_runs(now)) {
    env_->exec.run(run.id, std::move(run.spec));
  }
  if (next_full_sync_ <= now) start_full_sync(now);
  sync_local(now);
  persist_local();
}

void Agent::on_check_result(CheckRunId id, ExecResult result) {
  if (stopping_) return;
  const Instant now = env_->clock.now();
  local_.on_run_result(id, result, now);
  sync_local(now);
  persist_local();
  arm_timer();
  if (config_.check_invariants_each_input) check_invariants();
}

void Agent::persist_local() {
  if (local_.persist_version() == local_persisted_) return;
  local_persisted_ = local_.persist_version();
  if (config_.dev || config_.data_dir.empty()) return;
  WriteBatch batch;
  batch.sync = false;  // a lost update is redone by the next; rename keeps the file whole
  batch.ops.push_back(WriteOp{WriteOp::Kind::kReplace, std::string(kLocalStateFile),
                              to_bytes(local_.persisted_json()), 0});
  env_->storage.write(std::move(batch), next_ticket_);
  next_ticket_ = next_ticket_.next();
}

void Agent::send_internal(HttpRequest request, InternalDone done) {
  const RequestId id(kInternalBit | next_internal_++);
  internal_[id] = Internal{std::move(done), env_->clock.now() + kInternalTimeout};
  request.origin_node = config_.node_name;
  route(id, std::move(request));
}

bool Agent::take_internal_response(RequestId id, HttpResponse& response) {
  if ((id.value() & kInternalBit) == 0 || Forwarder::is_forwarded(id)) return false;
  auto it = internal_.find(id);
  if (it == internal_.end()) return true;  // answered twice: already handled
  InternalDone done = std::move(it->second.done);
  internal_.erase(it);
  done(response);
  return true;
}

void Agent::expire_internal(Instant now) {
  std::vector<RequestId> expired;
  for (const auto& [id, in] : internal_) {
    if (in.deadline <= now) expired.push_back(id);
  }
  for (RequestId id : expired) {
    if (const std::string to = forwarder_.target_of(id); !to.empty()) {
      suspect_servers_[to] = now + kSuspectServerFor;
    }
    HttpResponse timeout = HttpResponse::text(504, "internal request: no answer in time");
    take_internal_response(id, timeout);
  }
  std::erase_if(suspect_servers_, [&](const auto& s) { return s.second <= now; });
}

Instant Agent::internal_deadline() const {
  Instant at = Instant::never();
  for (const auto& [id, in] : internal_) at = std::min(at, in.deadline);
  return at;
}

void Agent::sync_local(Instant now) {
  // Every change to local state comes through here: say which checks changed status, as
  // Consul's agent does (critical and warning as warnings; passing at info, where Consul logs
  // it at debug: an operator following a master flip wants both ends of it).
  for (const auto& change : local_.take_status_changes()) {
    if (change.status == catalog::HealthStatus::kPassing) {
      env_->logger.info("agent", "Check {:?} is now passing", change.check_id);
    } else {
      // Not the output, and the id escaped ({:?}): a script's text or an API-given id must not
      // forge log lines. The output is in the API.
      env_->logger.warn("agent", "Check {:?} is now {}", change.check_id,
                        catalog::health_status_name(change.status));
    }
  }
  if (stopping_) return;
  const catalog::NodeDef node = local_node_def();
  for (const SyncOp& op : local_.pending_sync(now)) {
    json body;
    std::string path = "/v1/catalog/register";
    switch (op.kind) {
      case SyncOp::Kind::kNode:
        body = node_fields(node);
        break;
      case SyncOp::Kind::kService: {
        const LocalService* s = local_.service(op.id);
        if (s == nullptr) {
          local_.sync_done(op, true, now);
          continue;
        }
        body = node_fields(node);
        body["SkipNodeUpdate"] = true;
        body["Service"] = service_fields(local_.service_def(*s));
        json checks = json::array();
        for (const LocalCheck* c : local_.service_checks(op.id)) {
          checks.push_back(check_fields(local_.check_def(*c)));
        }
        body["Checks"] = std::move(checks);
        break;
      }
      case SyncOp::Kind::kCheck: {
        const LocalCheck* c = local_.check(op.id);
        if (c == nullptr) {
          local_.sync_done(op, true, now);
          continue;
        }
        body = node_fields(node);
        body["SkipNodeUpdate"] = true;
        body["Check"] = check_fields(local_.check_def(*c));
        break;
      }
      case SyncOp::Kind::kDeregisterService:
        path = "/v1/catalog/deregister";
        body = {{"Node", node.name}, {"ServiceID", op.id}};
        break;
      case SyncOp::Kind::kDeregisterCheck:
        path = "/v1/catalog/deregister";
        body = {{"Node", node.name}, {"CheckID", op.id}};
        break;
    }
    send_internal(internal_request("PUT", path, body.dump()),
                  [this, op](const HttpResponse& response) {
                    const bool ok = response.status == 200 && response.body == "true";
                    const Instant at = env_->clock.now();
                    if (!ok) {
                      env_->logger.debug("agent", "anti-entropy: syncing {} \"{}\" failed: {} {}",
                                         static_cast<int>(op.kind), op.id, response.status,
                                         response.body);
                    } else if (op.kind == SyncOp::Kind::kService) {
                      env_->logger.info("agent", "Synced service \"{}\"", op.id);
                    } else if (op.kind == SyncOp::Kind::kCheck) {
                      env_->logger.info("agent", "Synced check \"{}\"", op.id);
                    }
                    local_.sync_done(op, ok, at);
                    if (!stopping_) arm_timer();
                  });
  }
}

void Agent::start_full_sync(Instant now) {
  if (full_sync_running_ || stopping_) return;
  full_sync_running_ = true;
  // Until both reads are back, the next full sync is not scheduled.
  next_full_sync_ = Instant::never();
  struct Reads {
    std::optional<json> node;
    std::optional<json> checks;
    bool failed = false;
    int answered = 0;
  };
  auto reads = std::make_shared<Reads>();
  auto finish = [this, reads]() {
    if (++reads->answered < 2) return;
    full_sync_running_ = false;
    const Instant at = env_->clock.now();
    if (stopping_) return;
    if (reads->failed) {
      next_full_sync_ = at + kFullSyncRetry + local_rng_.between(Duration::zero(), kFullSyncRetry);
      arm_timer();
      return;
    }
    local_.full_sync_against(remote_state(*reads->node, *reads->checks),
                             LocalNodeInfo{local_node_def()});
    const std::size_t members = lan_.serf ? lan_.serf->members().size() : 1;
    // Consul's scaling: one minute up to 128 nodes, one more for each doubling beyond.
    Duration interval = kFullSyncInterval;
    if (members > 128) {
      const auto extra = static_cast<std::int64_t>(
          std::ceil(std::log2(static_cast<double>(members)) - std::log2(128.0)));
      interval = kFullSyncInterval * (extra + 1);
    }
    next_full_sync_ = at + interval + local_rng_.between(Duration::zero(), interval / 2);
    sync_local(at);
    arm_timer();
  };
  const std::string node = config_.node_name;
  send_internal(internal_request("GET", "/v1/catalog/node/" + node),
                [reads, finish](const HttpResponse& r) {
                  if (r.status == 200 || r.status == 404) {
                    json doc = json::parse(r.body, nullptr, false);
                    reads->node = doc.is_discarded() ? json() : std::move(doc);
                  } else {
                    reads->failed = true;
                  }
                  finish();
                });
  send_internal(internal_request("GET", "/v1/health/node/" + node),
                [reads, finish](const HttpResponse& r) {
                  if (r.status == 200) {
                    json doc = json::parse(r.body, nullptr, false);
                    reads->checks = doc.is_discarded() ? json::array() : std::move(doc);
                  } else {
                    reads->failed = true;
                  }
                  finish();
                });
  static_cast<void>(now);
}

}  // namespace praetor::node
