// The agent's control flow: start-up, the commit path, blocking-query wake-ups, timers.
// HTTP routing and handlers live in http_api.cpp.
#include "core/node/agent.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/base/limits.hpp"

namespace praetor::node {
namespace {

constexpr std::string_view kNodeIdFile = "node-id";

bool looks_like_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace

std::string make_uuid(Rng& rng) {
  const std::uint64_t a = rng.next_u64();
  const std::uint64_t b = rng.next_u64();
  // RFC 4122 version 4 layout: the version nibble is 4, the variant bits are 10.
  const std::uint64_t hi = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const std::uint64_t lo = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff,
                     hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

Agent::Agent(AgentConfig config) : config_(std::move(config)) {}

void Agent::start(Env& env) {
  PRAETOR_ASSERT_MSG(env_ == nullptr, "agent started twice");
  env_ = &env;
  rng_.reseed(env.seed);
  auto files = env.storage.recover();
  if (!files) {
    env.logger.error("agent", "could not read the data dir: {}", files.error().message);
    env.control.shutdown(1);
    return;
  }
  restore_identity(*files);
  forwarder_.start(rng_);
  env.logger.info("agent", "Node name: \"{}\", node id: {}, datacenter: \"{}\"",
                  config_.node_name, node_id_, config_.datacenter);
  if (config_.server) {
    start_server(*files);
    if (stopping_) return;
  }
  // Every agent gossips; a client learns the servers it forwards to from the LAN pool.
  start_gossip(*files);
  start_local(*files);
  configure_dns();
  if (stopping_) return;
  local_wake(env.clock.now());
  arm_timer();
}

void Agent::restore_identity(const StoredFiles& files) {
  if (auto it = files.find(std::string(kNodeIdFile)); it != files.end()) {
    std::string stored = to_string(it->second);
    while (!stored.empty() && (stored.back() == '\n' || stored.back() == ' ')) stored.pop_back();
    if (looks_like_uuid(stored)) node_id_ = stored;
  }
  if (!config_.node_id.empty()) node_id_ = config_.node_id;
  if (node_id_.empty()) node_id_ = make_uuid(rng_);
  if (!config_.dev && !config_.data_dir.empty() && !files.contains(std::string(kNodeIdFile))) {
    WriteBatch batch;
    batch.ops.push_back(WriteOp{WriteOp::Kind::kReplace, std::string(kNodeIdFile),
                                to_bytes(node_id_), 0});
    env_->storage.write(std::move(batch), next_ticket_);
    next_ticket_ = next_ticket_.next();
  }
}

std::optional<std::string> Agent::leader_address() const {
  if (known_leader_ == raft::kNoNode) return std::nullopt;
  return address_of(known_leader_);
}

std::string Agent::advertise_address() const {
  if (!config_.advertise_addr.empty()) return config_.advertise_addr;
  if (config_.bind_addr != "0.0.0.0" && config_.bind_addr != "::") return config_.bind_addr;
  return "127.0.0.1";
}

std::string Agent::server_address() const {
  return Endpoint{advertise_address(), static_cast<std::uint16_t>(config_.ports.server)}
      .to_string();
}

void Agent::commit(RequestId id, catalog::Command command, Answer answer) {
  if (!config_.server) {
    respond(id, HttpResponse::text(500, "No known Consul servers"));
    return;
  }
  if (!is_leader()) {
    respond(id, HttpResponse::text(500, "No cluster leader"));
    return;
  }
  // Entries travel as bytes through Raft's log; the FSM decodes them when they commit.
  auto index = raft_->propose(env_->clock.now(), catalog::encode_command(command));
  if (!index) {
    const int status = index.error().code == ErrorCode::kTooLarge ? 413 : 500;
    respond(id, HttpResponse::text(status, index.error().message));
    return;
  }
  pending_.emplace(*index, Pending{id, raft_->term(), std::move(answer)});
  drive_raft();
}

void Agent::arm_timer() {
  Instant earliest = raft_ && !stopping_ ? raft_->next_deadline() : Instant::never();
  earliest = std::min(earliest, gossip_deadline());
  earliest = std::min(earliest, next_no_leader_log_);
  earliest = std::min(earliest, forwarder_.next_deadline());
  if (!parked_deadlines_.empty()) earliest = std::min(earliest, parked_deadlines_.begin()->first);
  if (!stopping_) earliest = std::min(earliest, reconcile_due_);
  earliest = std::min(earliest, session_timers_.next_deadline());
  if (!stopping_) {
    earliest = std::min(earliest, local_.next_deadline());
    earliest = std::min(earliest, next_full_sync_);
    earliest = std::min(earliest, internal_deadline());
    earliest = std::min(earliest, recursion_deadline());
  }
  if (earliest != armed_) {
    armed_ = earliest;
    env_->timer.wake_at(earliest);
  }
}

void Agent::respond(RequestId id, HttpResponse response) {
  // Every answer carries the index headers, errors included: clients read X-Consul-Index even
  // from a 404, and a missing header breaks node-consul's watches.
  if (!response.header("X-Consul-Index")) decorate(response, fsm_.applied_index().value());
  if (take_internal_response(id, response)) return;
  if (auto origin = forwarder_.take_origin(id)) {
    // Another agent's request: the answer travels back over server RPC.
    ForwardResponse f;
    f.forward_id = origin->forward_id;
    f.status = response.status;
    f.headers = std::move(response.headers);
    f.body = std::move(response.body);
    send_rpc(origin->address, f);
    return;
  }
  env_->responder.respond(id, std::move(response));
}

void Agent::decorate(HttpResponse& response, std::uint64_t index) const {
  response.set_header("X-Consul-Index", std::to_string(std::max<std::uint64_t>(index, 1)));
  response.set_header("X-Consul-KnownLeader",
                      known_leader_ != raft::kNoNode ? "true" : "false");
  // Milliseconds since this server last heard from its leader (0 on the leader, and on a server
  // that never heard from one: KnownLeader says false then), as Consul reports it; a stale read
  // from a follower shows how far behind it may be.
  std::int64_t last_contact = 0;
  if (raft_ && !is_leader() && !raft_->leader_contact().is_never()) {
    last_contact = std::max<std::int64_t>(
        0, (env_->clock.now() - raft_->leader_contact()).count_ms());
  }
  response.set_header("X-Consul-LastContact", std::to_string(last_contact));
}

void Agent::on_frame(const Endpoint& from, Channel channel, Bytes payload) {
  switch (channel) {
    case Channel::kGossipLan:
    case Channel::kGossipWan:
    case Channel::kGossipLanStream:
    case Channel::kGossipWanStream:
      // Gossip keeps running while a graceful leave spreads. (The catalog and Raft invariants
      // are checked after their own inputs; gossip frames are the bulk of all inputs.)
      if (!stopping_ || leaving_) on_gossip_frame(from, channel, std::move(payload));
      return;
    case Channel::kRpc:
      if (!stopping_) {
        auto frame = decode_rpc(payload);
        if (!frame) {
          env_->logger.warn("agent", "dropped a malformed rpc frame from {}: {}", from,
                            frame.error().message);
          return;
        }
        // Clients only take answers to what they forwarded.
        if (!config_.server && !std::holds_alternative<ForwardResponse>(*frame)) return;
        on_rpc(from, std::move(*frame));
        if (config_.check_invariants_each_input) check_invariants();
      }
      return;
    case Channel::kDns:
    case Channel::kDnsStream:
      on_dns_frame(from, channel, std::move(payload));
      return;
    case Channel::kHttp:
      break;
  }
  env_->logger.debug("agent", "dropped {} byte frame on {} from {}", payload.size(),
                     channel_name(channel), from);
}

void Agent::on_written(Ticket ticket, Result<void> result) {
  if (!result) {
    // A failed fsync leaves the log in an unknown state: stop rather than acknowledge anything
    // (the lesson of PostgreSQL's fsyncgate).
    env_->logger.error("agent", "write {} failed: {}; stopping", ticket, result.error().message);
    stopping_ = true;
    env_->control.shutdown(1);
    return;
  }
  if (ready_in_flight_ && ticket == ready_ticket_) {
    raft::Ready ready = std::move(*ready_in_flight_);
    ready_in_flight_.reset();
    finish_ready(std::move(ready));
    drive_raft();
  }
}

void Agent::on_wake(Instant now) {
  armed_ = Instant::never();
  if (stopping_) {
    if (leaving_) gossip_wake(now);
    if (!stopping_ || leaving_) arm_timer();
    return;
  }
  if (raft_ && raft_->next_deadline() <= now) {
    raft_->advance_time(now);
    drive_raft();
  }
  gossip_wake(now);
  if (stopping_) return;  // a failed join gave up
  refresh_gossip_tags(now);
  log_no_leader(now);
  reconcile_if_due(now);
  expire_forwards(now);
  expire_sessions(now);
  local_wake(now);
  expire_recursions(now);
  wake_parked(now, true);
  if (config_.check_invariants_each_input) check_invariants();
}

void Agent::on_client_request(RequestId id, HttpRequest request) {
  if (stopping_) {
    respond(id, HttpResponse::text(503, "Agent is shutting down"));
    return;
  }
  request.origin_node = config_.node_name;
  route(id, std::move(request));
  if (config_.check_invariants_each_input) check_invariants();
}

void Agent::stop(StopReason reason) {
  if (stopping_) return;
  stopping_ = true;
  // Consul's rules: `leave` always leaves; SIGTERM leaves when leave_on_terminate (clients by
  // default); SIGINT leaves unless skip_leave_on_interrupt (servers skip by default).
  const bool leave = reason == StopReason::kLeave ||
                     (reason == StopReason::kTerminate && config_.leave_on_terminate_effective()) ||
                     (reason == StopReason::kInterrupt && !config_.skip_leave_on_interrupt_effective());
  env_->logger.info("agent", "Requesting shutdown");
  // Parked long-polls get their answer now rather than a dropped connection.
  wake_parked(Instant::never(), true);  // every deadline has passed by then
  fail_forwards("Agent is shutting down");
  for (auto& [read, pending] : reads_) {
    respond(pending.request, HttpResponse::text(503, "Agent is shutting down"));
  }
  reads_.clear();
  for (auto& [index, pending] : pending_) {
    respond(pending.request, HttpResponse::text(503, "Agent is shutting down"));
  }
  pending_.clear();
  for (Pool* pool : {&lan_, &wan_}) {
    for (const auto& w : pool->join_waits) {
      if (w.request != RequestId(0)) respond(w.request, HttpResponse::text(503, "Agent is shutting down"));
    }
    pool->join_waits.clear();
  }
  if (leave && lan_.serf) {
    begin_leave(env_->clock.now());
    return;
  }
  finish_stop();
}

void Agent::finish_stop() {
  leaving_ = false;
  env_->logger.info("agent", "shutdown complete");
  env_->control.shutdown(0);
}

Result<void> Agent::reload(AgentConfig config) {
  // What a reload may change today: the log level (the host applies it), services and checks
  // (with the checks issue). Identity, role and addresses need a restart, as in Consul.
  if (config.node_name != config_.node_name || config.server != config_.server ||
      config.datacenter != config_.datacenter) {
    env_->logger.warn("agent", "reload: node name, role and datacenter changes need a restart");
    config.node_name = config_.node_name;
    config.server = config_.server;
    config.datacenter = config_.datacenter;
  }
  config.node_id = config_.node_id;
  env_->logger.info("agent", "Reloading configuration...");
  // Services and checks from the files are diffed against what runs: added, removed and changed
  // ones are applied, unchanged checks keep their status and schedule. A set that cannot be
  // applied (a check naming a missing service, scripts now disabled) leaves the old
  // configuration in force, as an invalid file does.
  const LocalState::Options old_options = local_.options();
  LocalState::Options options = old_options;
  options.check_update_interval = config.check_update_interval;
  options.enable_script_checks = config.enable_script_checks;
  options.enable_local_script_checks = config.enable_local_script_checks;
  local_.set_options(options);
  if (auto ok = local_.apply_config(config.services, config.checks, env_->clock.now(), local_rng_);
      !ok) {
    local_.set_options(old_options);
    env_->logger.error("agent", "Failed to reload configs: {}; the running configuration stays",
                       ok.error().message);
    Result<void> refused =
        make_error(ok.error().code, "Failed reloading services: " + ok.error().message);
    answer_reload_waiters(refused);
    return refused;
  }
  const bool node_changed = config.node_meta != config_.node_meta;
  config_ = std::move(config);
  configure_dns();  // dns_config and recursors take effect at once, as in Consul
  if (node_changed) local_.node_changed();
  local_changed();
  answer_reload_waiters(Result<void>{});
  return {};
}

void Agent::reload_failed(const std::string& message) {
  env_->logger.error("agent", "Failed to reload configs: {}", message);
  answer_reload_waiters(make_error(ErrorCode::kInvalidArgument, message));
}

void Agent::answer_reload_waiters(const Result<void>& outcome) {
  // Consul answers the reload endpoint only once the reload is done, with its error as a 500:
  // `praetor reload` then exits 1 and prints why (D46).
  std::vector<RequestId> waiters = std::move(reload_waiters_);
  reload_waiters_.clear();
  for (RequestId id : waiters) {
    respond(id, outcome ? HttpResponse::text(200, "")
                        : HttpResponse::text(500, outcome.error().message));
  }
}

void Agent::check_invariants() const {
  fsm_.check_invariants();
  if (raft_) {
    raft_->check_invariants();
    PRAETOR_ASSERT(fsm_.applied_index() <= raft_->status().commit);
    for (const auto& [index, pending] : pending_) PRAETOR_ASSERT(index > fsm_.applied_index());
  }
  PRAETOR_ASSERT(parked_.size() <= limits::kHttpMaxPendingRequests);
  for (const auto& [id, parked] : parked_) PRAETOR_ASSERT(parked.waiting(fsm_));
  PRAETOR_ASSERT(parked_deadlines_.size() == parked_.size());
  session_timers_.check_invariants();
  local_.check_invariants();
  dns_cache_.check_invariants();
  PRAETOR_ASSERT(is_leader() || session_timers_.size() == 0);
}

}  // namespace praetor::node
