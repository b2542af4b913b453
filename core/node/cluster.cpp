// Servers finding each other and talking: the servers LAN gossip reports (gossip_role.cpp feeds
// merge_server), Raft messages over server RPC, bootstrap_expect, requests that clients forward
// to a server and followers to the leader, ?consistent reads through Raft's ReadIndex, and the
// leader's autopilot.
#include <fmt/format.h>

#include <charconv>

#include "core/base/duration.hpp"
#include "core/base/limits.hpp"
#include "core/dns/message.hpp"
#include "core/node/agent.hpp"
#include "core/raft/codec.hpp"

namespace praetor::node {
namespace {

constexpr std::string_view kServersFile = "raft/peers";
constexpr Duration kNoLeaderFirstLog = Duration::seconds(5);
constexpr Duration kNoLeaderLogInterval = Duration::seconds(30);
// How long a follower waits for the leader's answer beyond the request's own blocking wait.
// An answer that does not come (the leader crashed, the connection broke) is reported as a 500
// and the client retries: the write may or may not have committed, as with any lost reply.

}  // namespace

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

void Agent::log_no_leader(Instant now) {
  if (!raft_ || known_leader_ != raft::kNoNode || stopping_) {
    next_no_leader_log_ = Instant::never();
    return;
  }
  if (next_no_leader_log_ == Instant::never()) {
    // Consul says it at its first anti-entropy sync, seconds after start; then we repeat it.
    next_no_leader_log_ = now + kNoLeaderFirstLog;
    return;
  }
  if (now < next_no_leader_log_) return;
  // Consul keeps saying this while a server waits for a leader; so do we, every 30 s.
  env_->logger.error("agent", "failed to sync remote state: No cluster leader");
  next_no_leader_log_ = now + kNoLeaderLogInterval;
}

void Agent::merge_server(const ServerInfo& info) {
  if (info.raft_id == 0 || NodeId(info.raft_id) == raft_id_) return;
  if (info.datacenter != config_.datacenter) return;  // other datacenters live in the WAN pool
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
  batch.sync = false;  // rediscovered through gossip if lost
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
    if (fields.size() != 4) continue;  // damaged line: gossip will rediscover the server
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
  if (!raft_ || has_raft_state() || config_.bootstrap_expect <= 1) return;
  if (ready_in_flight_) {
    // Raft's state is being written; look again once that write is likely done.
    schedule_reconcile(env_->clock.now() + Duration::milliseconds(10));
    return;
  }
  std::set<NodeId> voters{raft_id_};
  for (const auto& [id, info] : servers_) {
    if (!server_alive(id)) continue;  // Consul counts the alive servers of the LAN pool
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
  } else if (auto* request = std::get_if<ForwardRequest>(&frame)) {
    // The answer goes back to where the request came from: the host routes a frame to `from`
    // over the connection it arrived on (the sender's outbound port is not its listener).
    auto id = forwarder_.accept(*request, from.to_string(), now);
    if (!id) {
      env_->logger.debug("agent", "dropped a duplicate forwarded request from {}", from);
      return;
    }
    HttpRequest http;
    http.method = std::move(request->method);
    http.path = std::move(request->path);
    http.query = std::move(request->query);
    http.body = std::move(request->body);
    http.remote = from.to_string();
    http.origin_node = std::move(request->origin_node);
    route(*id, std::move(http));
  } else if (auto* response = std::get_if<ForwardResponse>(&frame)) {
    auto original = forwarder_.take_answered(response->forward_id);
    if (!original) return;  // timed out or failed already
    HttpResponse http;
    http.status = response->status;
    http.headers = std::move(response->headers);
    http.body = std::move(response->body);
    respond(*original, std::move(http));
  }
  arm_timer();
}

void Agent::forward_to_leader(RequestId id, HttpRequest request) {
  const bool may_forward = forwarder_.may_forward(id);
  auto leader = address_of(known_leader_);
  if (!may_forward || known_leader_ == raft::kNoNode || !leader) {
    respond(id, HttpResponse::text(500, "No cluster leader"));
    return;
  }
  forward(id, std::move(request), *leader, false);
}

void Agent::forward_to_server(RequestId id, HttpRequest request) {
  // Consul's client agents pick a server from the LAN pool; we pick an alive one at random
  // (seeded: replayable in the simulator), so load spreads and a dead one is passed over.
  std::vector<const ServerInfo*> alive;
  std::vector<const ServerInfo*> trusted;  // alive and not suspected of dropping requests
  const Instant now = env_->clock.now();
  for (const auto& [sid, info] : servers_) {
    if (!server_alive(sid)) continue;
    alive.push_back(&info);
    auto suspect = suspect_servers_.find(info.address);
    if (suspect == suspect_servers_.end() || suspect->second <= now) trusted.push_back(&info);
  }
  // A server that left a request unanswered (crashed, cut off) is passed over until gossip has
  // had time to notice, as long as another is left.
  if (!trusted.empty()) alive = std::move(trusted);
  if (alive.empty()) {
    respond(id, HttpResponse::text(500, "No known Consul servers"));
    return;
  }
  const ServerInfo* target = alive[rng_.uniform(alive.size())];
  forward(id, std::move(request), target->address, true);
}

void Agent::forward_to_datacenter(RequestId id, const std::string& datacenter,
                                  HttpRequest request) {
  // Consul's servers forward to a server of the named datacenter found in the WAN pool. A
  // request that came over the WAN never crosses it again: two datacenters that disagree on
  // a name cannot bounce a request between them.
  std::vector<ServerInfo> alive;
  std::vector<ServerInfo> trusted;  // alive and not suspected of leaving requests unanswered
  if (wan_.serf && !forwarder_.came_from_wan(id)) {
    const Instant now = env_->clock.now();
    for (const auto& [name, m] : wan_.serf->members()) {
      if (m.status != gossip::SerfStatus::kAlive) continue;
      auto info = server_from_member(m);
      if (!info || !dns::iequals(info->datacenter, datacenter)) continue;
      auto suspect = suspect_servers_.find(info->address);
      if (suspect == suspect_servers_.end() || suspect->second <= now) trusted.push_back(*info);
      alive.push_back(std::move(*info));
    }
  }
  if (!trusted.empty()) alive = std::move(trusted);
  if (alive.empty()) {
    respond(id, HttpResponse::text(500, "No path to datacenter"));
    return;
  }
  const ServerInfo& target = alive[rng_.uniform(alive.size())];
  forward(id, std::move(request), target.address, true, target.datacenter);
}

void Agent::forward(RequestId id, HttpRequest request, const std::string& to, bool from_client,
                    std::string datacenter) {
  send_rpc(to, forwarder_.send(id, std::move(request), from_client, env_->clock.now(), to,
                               std::move(datacenter)));
  arm_timer();
}

void Agent::fail_forwards(std::string_view why) {
  for (RequestId request : forwarder_.take_all()) {
    respond(request, HttpResponse::text(500, std::string(why)));
  }
}

void Agent::expire_forwards(Instant now) {
  for (const Forwarder::Expired& e : forwarder_.take_expired(now)) {
    // The server that left it unanswered is passed over while another is left (a partitioned
    // datacenter's servers stay alive in the WAN pool until gossip's longer WAN timeouts).
    suspect_servers_[e.to] = now + kSuspectServerFor;
    respond(e.request,
            HttpResponse::text(500, e.datacenter.empty()
                                        ? std::string("rpc error: timeout waiting for the leader")
                                        : fmt::format("rpc error: timeout waiting for an answer "
                                                      "from datacenter {}",
                                                      e.datacenter)));
  }
}

// Linearizable reads share ReadIndex rounds (D44). A round confirms leadership for the
// reads registered before it started, so a read that arrives while one is in flight cannot ride
// on it; it waits for the next round, which drive_raft starts as soon as the one in flight
// completes, for every read that arrived meanwhile. One read alone starts its round at once, as
// before; at 32 concurrent reads a round (a heartbeat to every follower and their answers)
// serves up to 32 instead of one. Each read is still confirmed by a round that started after
// it arrived, at a commit index at least the one it saw, so a deposed leader never answers
// (D9).
void Agent::start_consistent_read(RequestId id, HttpRequest request) {
  if (reads_.size() >= raft::kMaxPendingReads) {
    respond(id, HttpResponse::text(500, "too many pending reads"));
    return;
  }
  reads_.emplace(next_read_id_++, PendingRead{id, std::move(request), LogIndex(0)});
  ++reads_waiting_;
  if (read_batch_ == 0) drive_raft();  // starts the round; otherwise the read waits for the next
}

bool Agent::start_read_batch() {
  if (read_batch_ != 0 || reads_waiting_ == 0 || stopping_) return false;
  const std::uint64_t batch = next_read_id_++;
  auto registered = raft_->read_index(env_->clock.now(), raft::ReadId(batch));
  std::vector<RequestId> failed;
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& pending = it->second;
    if (pending.batch != 0 || pending.index > LogIndex(0)) {
      ++it;
    } else if (registered) {
      pending.batch = batch;
      ++it;
    } else {
      failed.push_back(pending.request);
      it = reads_.erase(it);
    }
  }
  reads_waiting_ = 0;
  for (RequestId request : failed) {
    respond(request, HttpResponse::text(500, registered.error().message));
  }
  if (!registered) return false;
  read_batch_ = batch;
  return true;
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
