// Servers finding each other and talking: hellos over server RPC (start_join / retry_join
// addresses until gossip takes over discovery), Raft messages, bootstrap_expect, requests that a
// follower forwards to the leader, and ?consistent reads through Raft's ReadIndex.
#include <fmt/format.h>

#include <charconv>

#include "core/base/duration.hpp"
#include "core/base/limits.hpp"
#include "core/node/agent.hpp"
#include "core/raft/codec.hpp"

namespace praetor::node {
namespace {

constexpr std::string_view kServersFile = "raft/peers";
constexpr Duration kHelloIntervalSeeking = Duration::seconds(1);
constexpr Duration kHelloIntervalSettled = Duration::seconds(30);
// How long a follower waits for the leader's answer beyond the request's own blocking wait.
// An answer that does not come (the leader crashed, the connection broke) is reported as a 500
// and the client retries: the write may or may not have committed, as with any lost reply.
constexpr Duration kForwardTimeout = Duration::seconds(10);
constexpr std::uint64_t kForwardedRequestBit = std::uint64_t{1} << 63;
constexpr std::size_t kMaxSeenForwards = 65536;
// Autopilot: a learner within this many entries of the leader is promoted; a server counts as
// alive for joining when it greeted us within kAliveWithin.
constexpr std::uint64_t kPromoteLag = 64;
constexpr Duration kAliveWithin = Duration::seconds(3);

}  // namespace

ServerInfo Agent::self_info() const {
  ServerInfo info;
  info.name = config_.node_name;
  info.node_id = node_id_;
  info.datacenter = config_.datacenter;
  info.address = server_address();
  info.raft_id = raft_id_.value();
  info.bootstrap_expect = static_cast<std::uint32_t>(std::max(0, config_.bootstrap_expect));
  info.bootstrapped = raft_ && (raft_->term() > Term(0) ||
                                !raft_->status().membership.voters.empty());
  return info;
}

std::optional<std::string> Agent::address_of(NodeId id) const {
  if (id == raft_id_) return server_address();
  auto it = servers_.find(id);
  if (it == servers_.end()) return std::nullopt;
  return it->second.address;
}

void Agent::send_rpc(const std::string& address, const RpcFrame& frame) {
  auto endpoint = parse_endpoint(address, static_cast<std::uint16_t>(config_.ports.server));
  if (!endpoint) {
    env_->logger.warn("agent", "bad server address {}: {}", address, endpoint.error().message);
    return;
  }
  env_->network.send(*endpoint, Channel::kRpc, encode_rpc(frame));
}

void Agent::send_hellos(Instant now) {
  Hello hello;
  hello.self = self_info();
  for (const auto& [id, info] : servers_) {
    if (id != raft_id_) hello.known.push_back(info);
  }
  // Join addresses name hosts; until gossip lands the server RPC port is assumed the same as
  // ours on every server (Consul's default layout).
  std::set<std::string> targets;
  for (const auto* list : {&config_.start_join, &config_.retry_join}) {
    for (const std::string& a : *list) {
      auto e = parse_endpoint(a, static_cast<std::uint16_t>(config_.ports.server));
      if (e) targets.insert(Endpoint{e->host, static_cast<std::uint16_t>(config_.ports.server)}
                                .to_string());
    }
  }
  for (const auto& [id, info] : servers_) {
    if (id != raft_id_) targets.insert(info.address);
  }
  targets.erase(server_address());
  for (const std::string& t : targets) send_rpc(t, hello);
  const bool settled = known_leader_ != raft::kNoNode;
  next_hello_ = now + (settled ? kHelloIntervalSettled : kHelloIntervalSeeking);
  if (!settled && now >= next_no_leader_log_) {
    // Consul keeps saying this while a server waits for a leader; so do we, every 30 s.
    env_->logger.error("agent", "failed to sync remote state: No cluster leader");
    next_no_leader_log_ = now + kHelloIntervalSettled;
  }
}

void Agent::merge_server(const ServerInfo& info) {
  if (info.raft_id == 0 || NodeId(info.raft_id) == raft_id_) return;
  if (info.datacenter != config_.datacenter) return;  // WAN federation is another issue
  auto [it, inserted] = servers_.try_emplace(NodeId(info.raft_id), info);
  if (inserted) {
    env_->logger.info("agent", "server {} ({}) found at {}", info.name, info.node_id,
                      info.address);
    save_servers();
  } else if (!(it->second == info)) {
    const bool moved = it->second.address != info.address;
    it->second = info;
    if (moved) save_servers();
  }
}

void Agent::save_servers() {
  if (!persist_raft_) return;
  // One server a line: raft_id name node_id address. Names and ids never contain spaces.
  std::string text;
  for (const auto& [id, info] : servers_) {
    if (id == raft_id_) continue;
    text += fmt::format("{} {} {} {}\n", info.raft_id, info.name, info.node_id, info.address);
  }
  WriteBatch batch;
  batch.ops.push_back({WriteOp::Kind::kReplace, std::string(kServersFile), to_bytes(text), 0});
  batch.sync = false;  // rediscovered through hellos if lost
  env_->storage.write(std::move(batch), next_ticket_);
  next_ticket_ = next_ticket_.next();
}

void Agent::load_servers(const StoredFiles& files) {
  auto it = files.find(std::string(kServersFile));
  if (it == files.end()) return;
  std::string_view text(reinterpret_cast<const char*>(it->second.data()), it->second.size());
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::vector<std::string_view> fields;
    while (!line.empty()) {
      auto sp = line.find(' ');
      fields.push_back(line.substr(0, sp));
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    }
    if (fields.size() != 4) continue;  // damaged line: hellos will rediscover the server
    ServerInfo info;
    auto [p, ec] = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(),
                                   info.raft_id);
    if (ec != std::errc() || info.raft_id == 0) continue;
    info.name = std::string(fields[1]);
    info.node_id = std::string(fields[2]);
    info.address = std::string(fields[3]);
    info.datacenter = config_.datacenter;
    servers_.emplace(NodeId(info.raft_id), std::move(info));
  }
}

void Agent::maybe_bootstrap_expect() {
  if (!raft_ || self_info().bootstrapped || config_.bootstrap_expect <= 1) return;
  if (ready_in_flight_) return;  // retried at the next hello
  std::set<NodeId> voters{raft_id_};
  for (const auto& [id, info] : servers_) {
    if (info.bootstrapped) {
      env_->logger.info("agent", "existing Raft cluster found through {}; waiting to be added",
                        info.name);
      return;
    }
    if (info.bootstrap_expect != static_cast<std::uint32_t>(config_.bootstrap_expect)) {
      env_->logger.error("agent", "server {} expects {} servers, we expect {}: not bootstrapping",
                         info.name, info.bootstrap_expect, config_.bootstrap_expect);
      return;
    }
    voters.insert(id);
  }
  if (voters.size() < static_cast<std::size_t>(config_.bootstrap_expect)) return;
  if (voters.size() > static_cast<std::size_t>(config_.bootstrap_expect)) {
    env_->logger.error("agent", "found {} servers but bootstrap_expect is {}: not bootstrapping",
                       voters.size(), config_.bootstrap_expect);
    return;
  }
  // Every server that sees the same set bootstraps the same membership, as Consul does.
  raft::Membership membership;
  membership.voters = voters;
  raft::PersistentState state = raft::PersistentState::bootstrap(membership);
  env_->logger.info("agent", "found {} servers: bootstrapping the Raft cluster", voters.size());
  if (persist_raft_) {
    env_->storage.write(raft_storage_->save_snapshot(state.snapshot), next_ticket_);
    next_ticket_ = next_ticket_.next();
  }
  restore_raft(std::move(state));
}

void Agent::on_rpc(const Endpoint& from, RpcFrame frame) {
  const Instant now = env_->clock.now();
  if (auto* raft_payload = std::get_if<RaftPayload>(&frame)) {
    auto message = raft::decode_message(raft_payload->message);
    if (!message) {
      env_->logger.warn("raft", "dropped a malformed message from {}: {}", from,
                        message.error().message);
      return;
    }
    if (!raft_ || message->to != raft_id_) return;
    raft_->step(now, *message);
    drive_raft();
  } else if (auto* hello = std::get_if<Hello>(&frame)) {
    merge_server(hello->self);
    if (hello->self.raft_id != 0) heard_[NodeId(hello->self.raft_id)] = now;
    for (const auto& info : hello->known) merge_server(info);
    if (!hello->reply) {
      Hello reply;
      reply.self = self_info();
      reply.reply = true;
      for (const auto& [id, info] : servers_) {
        if (id != raft_id_) reply.known.push_back(info);
      }
      send_rpc(hello->self.address, reply);
    }
    maybe_bootstrap_expect();
    reconcile_servers(now);
  } else if (auto* request = std::get_if<ForwardRequest>(&frame)) {
    const auto key = std::make_pair(request->sender_nonce, request->forward_id);
    if (seen_forwards_.contains(key)) {
      env_->logger.debug("agent", "dropped a duplicate forwarded request from {}", from);
      return;
    }
    // Remember requests for longer than a follower waits for any answer; bound the memory.
    const Duration keep = Duration::milliseconds(limits::kBlockingWaitMaxMs) * 2;
    while (!seen_forwards_.empty() && (seen_forwards_.size() >= kMaxSeenForwards ||
                                       seen_forwards_.begin()->second + keep < now)) {
      // Oldest first is approximate (keys are not time-ordered); the cap keeps it bounded.
      seen_forwards_.erase(seen_forwards_.begin());
    }
    seen_forwards_.emplace(key, now);
    HttpRequest http;
    http.method = std::move(request->method);
    http.path = std::move(request->path);
    http.query = std::move(request->query);
    http.body = std::move(request->body);
    http.remote = from.to_string();
    const RequestId id(kForwardedRequestBit | ++next_forwarded_request_);
    // The answer goes back to where the request came from: the host routes a frame to `from`
    // over the connection it arrived on (the follower's outbound port is not its listener).
    const std::string origin = from.to_string();
    forwards_in_[id] = ForwardIn{origin, request->forward_id};
    route(id, std::move(http));
  } else if (auto* response = std::get_if<ForwardResponse>(&frame)) {
    auto it = forwards_out_.find(response->forward_id);
    if (it == forwards_out_.end()) return;  // timed out or failed already
    HttpResponse http;
    http.status = response->status;
    http.headers = std::move(response->headers);
    http.body = std::move(response->body);
    const RequestId original = it->second.request;
    forwards_out_.erase(it);
    respond(original, std::move(http));
  }
  arm_timer();
}

bool Agent::needs_leader(const HttpRequest& request) const {
  if (!config_.server) return false;
  const bool kv = request.path.starts_with("/v1/kv/") || request.path == "/v1/kv";
  const bool raft_peer = request.path == "/v1/operator/raft/peer";
  if (!kv && !raft_peer) return false;
  // Stale reads are served by any server from its own state.
  return !(request.method == "GET" && request.has_query("stale"));
}

void Agent::forward_to_leader(RequestId id, HttpRequest request) {
  if (id.value() & kForwardedRequestBit) {
    // Forwarded to us, but we are not the leader (any more): never forward twice.
    respond(id, HttpResponse::text(500, "No cluster leader"));
    return;
  }
  auto leader = address_of(known_leader_);
  if (known_leader_ == raft::kNoNode || !leader) {
    respond(id, HttpResponse::text(500, "No cluster leader"));
    return;
  }
  const std::uint64_t fid = next_forward_id_++;
  Duration wait = Duration::zero();
  if (request.query_value("index").value_or("0") != "0") {
    // A blocking query parks on the leader for its wait (default 5 min, max 10) plus jitter.
    wait = Duration::milliseconds(limits::kBlockingWaitDefaultMs);
    if (auto w = request.query_value("wait")) {
      if (auto d = parse_go_duration(*w)) wait = *d;
    }
    wait = std::min(wait, Duration::milliseconds(limits::kBlockingWaitMaxMs));
    wait = wait + wait / 16;
  }
  forwards_out_[fid] = ForwardOut{id, env_->clock.now() + wait + kForwardTimeout};
  ForwardRequest f;
  f.sender_nonce = forward_nonce_;
  f.forward_id = fid;
  f.method = std::move(request.method);
  f.path = std::move(request.path);
  f.query = std::move(request.query);
  f.body = std::move(request.body);
  send_rpc(*leader, f);
  arm_timer();
}

void Agent::fail_forwards(std::string_view why) {
  auto out = std::move(forwards_out_);
  forwards_out_.clear();
  for (auto& [fid, f] : out) respond(f.request, HttpResponse::text(500, std::string(why)));
}

void Agent::expire_forwards(Instant now) {
  std::vector<std::uint64_t> expired;
  for (const auto& [fid, f] : forwards_out_) {
    if (f.deadline <= now) expired.push_back(fid);
  }
  for (auto fid : expired) {
    RequestId request = forwards_out_[fid].request;
    forwards_out_.erase(fid);
    respond(request, HttpResponse::text(500, "rpc error: timeout waiting for the leader"));
  }
}

void Agent::start_consistent_read(RequestId id, HttpRequest request) {
  const std::uint64_t read = next_read_id_++;
  auto registered = raft_->read_index(env_->clock.now(), raft::ReadId(read));
  if (!registered) {
    respond(id, HttpResponse::text(500, registered.error().message));
    return;
  }
  reads_.emplace(read, PendingRead{id, std::move(request), LogIndex(0)});
  drive_raft();
}

void Agent::serve_ready_reads() {
  std::vector<std::uint64_t> done;
  for (const auto& [read, pending] : reads_) {
    if (pending.index > LogIndex(0) && fsm_.applied_index() >= pending.index) done.push_back(read);
  }
  for (auto read : done) {
    PendingRead pending = std::move(reads_[read]);
    reads_.erase(read);
    serving_read_ = true;
    route(pending.request, std::move(pending.http));
    serving_read_ = false;
  }
}

}  // namespace praetor::node

namespace praetor::node {

// The leader's autopilot, in its simplest safe form: a server of this datacenter that greets the
// leader and is not in the Raft configuration joins as a learner (non-voter) and is promoted once
// its log has caught up; a member whose name or address a new server now claims (a server that
// was rebuilt with a wiped data_dir) is removed first. Raft allows one change in flight and only
// after a commit in the leader's term; a refused change is simply tried again later.
void Agent::reconcile_servers(Instant now) {
  if (!is_leader()) return;
  const raft::Status status = raft_->status();
  auto propose = [&](raft::MembershipChange::Kind kind, NodeId node, std::string_view what) {
    auto index = raft_->propose_membership(now, raft::MembershipChange{kind, node});
    if (index) {
      std::string name = servers_.contains(node) ? servers_[node].name : std::to_string(node.value());
      env_->logger.info("autopilot", "{} server {}", what, name);
      drive_raft();
    }
  };
  for (NodeId learner : status.membership.learners) {
    auto it = status.progress.find(learner);
    if (it != status.progress.end() &&
        it->second.match.value() + kPromoteLag >= status.last_index.value()) {
      propose(raft::MembershipChange::Kind::kPromote, learner, "promoting");
      return;
    }
  }
  for (const auto& [id, info] : servers_) {
    if (status.membership.contains(id) || info.bootstrapped) continue;
    auto heard = heard_.find(id);
    if (heard == heard_.end() || heard->second + kAliveWithin < now) continue;
    for (NodeId member : status.membership.all()) {
      if (member == raft_id_ || member == id) continue;
      auto old = servers_.find(member);
      if (old != servers_.end() && (old->second.name == info.name || old->second.address == info.address)) {
        propose(raft::MembershipChange::Kind::kRemove, member, "removing stale");
        return;
      }
    }
    propose(raft::MembershipChange::Kind::kAddLearner, id, "adding");
    return;
  }
}

}  // namespace praetor::node
