// The agent's gossip: a Serf LAN pool on every agent (port 8301) and a WAN pool on servers (port
// 8302, members named "node.dc"), as Consul runs them. The pools are pure cores (core/gossip);
// this file feeds them frames and timer ticks, sends what they output, and turns their member
// events into what the agent needs:
//   - servers of our datacenter (LAN tags role=consul) become ServerInfo entries: Raft
//     addresses, bootstrap_expect discovery, the leader's autopilot, and the servers a client
//     agent forwards to;
//   - joins (start_join, retry_join with retry_interval/retry_max, the WAN variants, the member
//     snapshot that rejoin_after_leave governs, PUT /v1/agent/join);
//   - graceful leave (leave_on_terminate, skip_leave_on_interrupt, `praetor leave`) and
//     PUT /v1/agent/force-leave.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "core/base/limits.hpp"
#include "core/node/agent.hpp"
#include "core/node/config_reader.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {
namespace {

using nlohmann::json;

constexpr std::string_view kLanSnapshot = "serf/local.snapshot";
constexpr std::string_view kWanSnapshot = "serf/remote.snapshot";
// How long PUT /v1/agent/join and start_join wait for the contacted member to show up alive:
// memberlist's TCP timeout for the push/pull a join is.
constexpr Duration kJoinTimeout = Duration::seconds(10);
// A graceful leave waits for the pools' leave to spread, at most this long (Consul's leave
// propagation, bounded).
constexpr Duration kLeaveTimeout = Duration::seconds(5);
// The member snapshot is rewritten at most this often.
constexpr Duration kSnapshotDelay = Duration::seconds(1);

std::string_view snapshot_file(bool wan) { return wan ? kWanSnapshot : kLanSnapshot; }

std::string tag(const gossip::SerfMember& m, const std::string& key) {
  auto it = m.tags.find(key);
  return it == m.tags.end() ? std::string() : it->second;
}

int status_code(gossip::SerfStatus s) {
  // Consul's serf.MemberStatus numbering: none 0, alive 1, leaving 2, left 3, failed 4.
  switch (s) {
    case gossip::SerfStatus::kAlive: return 1;
    case gossip::SerfStatus::kLeaving: return 2;
    case gossip::SerfStatus::kLeft: return 3;
    case gossip::SerfStatus::kFailed: return 4;
  }
  return 0;
}

std::string addr_text(const gossip::Address& a) { return Endpoint{a.host, a.port}.to_string(); }

void apply_tuning(gossip::Config& c, const GossipTuning& t) {
  if (t.gossip_nodes) c.gossip_nodes = *t.gossip_nodes;
  if (t.gossip_interval) c.gossip_interval = *t.gossip_interval;
  if (t.probe_interval) c.probe_interval = *t.probe_interval;
  if (t.probe_timeout) c.probe_timeout = *t.probe_timeout;
  if (t.retransmit_mult) c.retransmit_mult = *t.retransmit_mult;
  if (t.suspicion_mult) c.suspicion_mult = *t.suspicion_mult;
}

}  // namespace

// --- start ---------------------------------------------------------------------------------------

void Agent::start_gossip(const StoredFiles& files) {
  const Instant now = env_->clock.now();
  lan_.wan = false;
  lan_.packets = Channel::kGossipLan;
  lan_.streams = Channel::kGossipLanStream;
  lan_.retry_interval = config_.retry_interval;
  lan_.retry_max = config_.retry_max;
  start_pool(lan_, files, now);
  if (config_.server && config_.ports.serf_wan > 0) {
    wan_.wan = true;
    wan_.packets = Channel::kGossipWan;
    wan_.streams = Channel::kGossipWanStream;
    wan_.retry_interval = config_.retry_interval_wan;
    wan_.retry_max = config_.retry_max_wan;
    start_pool(wan_, files, now);
  }
}

void Agent::start_pool(Pool& pool, const StoredFiles& files, Instant now) {
  const bool wan = pool.wan;
  const std::string host =
      wan && !config_.advertise_addr_wan.empty() ? config_.advertise_addr_wan : advertise_address();
  const int port = wan ? config_.ports.serf_wan : config_.ports.serf_lan;
  const gossip::Address self{host, static_cast<std::uint16_t>(port)};
  const std::string name =
      wan ? fmt::format("{}.{}", config_.node_name, config_.datacenter) : config_.node_name;
  gossip::SerfConfig sc = wan ? gossip::SerfConfig::wan(name, self) : gossip::SerfConfig::lan(name, self);
  apply_tuning(sc.swim, wan ? config_.gossip_wan : config_.gossip_lan);
  if (!wan) sc.reconnect_timeout = config_.reconnect_timeout;
  pool.tags = gossip_tags(wan);
  tagged_raft_state_ = has_raft_state();
  sc.tags = pool.tags;
  pool.serf.emplace(std::move(sc), rng_.fork(), env_->logger);
  const std::string_view label = wan ? "WAN" : "LAN";
  env_->logger.info("agent", "serf ({}) listening on {}: member {}", label, addr_text(self), name);
  pool.serf->advance_time(now);

  // Whom to contact: start_join, retry_join, and the members of the previous run.
  const auto& start_list = wan ? config_.start_join_wan : config_.start_join;
  const auto& retry_list = wan ? config_.retry_join_wan : config_.retry_join;
  std::vector<gossip::Address> seeds = join_addresses(start_list, port);
  pool.retry_join = join_addresses(retry_list, port);
  if (auto it = files.find(std::string(snapshot_file(wan))); it != files.end()) {
    std::vector<gossip::Address> previous;
    bool left = false;
    std::string_view text(reinterpret_cast<const char*>(it->second.data()), it->second.size());
    while (!text.empty()) {
      auto nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      if (line == "leave") left = true;
      if (!line.starts_with("alive ")) continue;
      auto sp = line.rfind(' ');
      auto e = parse_endpoint(line.substr(sp + 1), static_cast<std::uint16_t>(port));
      if (e && !(e->host == self.host && e->port == self.port)) {
        previous.push_back(gossip::Address{e->host, e->port});
      }
    }
    if (left && !config_.rejoin_after_leave) {
      env_->logger.info("agent", "({}) left the cluster last time: not rejoining the previous "
                        "members (set rejoin_after_leave to change that)", label);
    } else if (!previous.empty()) {
      env_->logger.info("agent", "({}) rejoining {} previously known members from the snapshot",
                        label, previous.size());
      // They join the retry list: a restarted agent keeps trying its old peers as Consul's
      // snapshot rejoin does.
      // An address already there (from retry_join) is not added twice.
      for (const auto& a : previous) {
        if (std::find(pool.retry_join.begin(), pool.retry_join.end(), a) == pool.retry_join.end()) {
          pool.retry_join.push_back(a);
        }
      }
    }
  }
  std::vector<gossip::Address> all = seeds;
  for (const auto& a : pool.retry_join) {
    if (std::find(all.begin(), all.end(), a) == all.end()) all.push_back(a);
  }
  if (!all.empty()) {
    std::vector<std::string> shown;
    for (const auto& a : all) shown.push_back(addr_text(a));
    env_->logger.info("agent", "({}) joining: {}_addresses=[{}]", label, wan ? "wan" : "lan",
                      fmt::join(shown, " "));
    pool.serf->join(now, all);
  }
  if (!seeds.empty()) {
    // start_join must succeed, as in Consul: the agent gives up when nobody answers in time.
    for (const auto& a : seeds) pool.join_waits.push_back({RequestId(0), a, now + kJoinTimeout});
  }
  if (!pool.retry_join.empty()) {
    pool.retry_attempts = 1;
    pool.next_retry = now + pool.retry_interval;
  }
  drive_gossip(pool, now);
}

std::vector<gossip::Address> Agent::join_addresses(const std::vector<std::string>& list,
                                                   int default_port) const {
  std::vector<gossip::Address> out;
  for (const std::string& a : list) {
    auto e = parse_endpoint(a, static_cast<std::uint16_t>(default_port));
    if (!e || !config_detail::is_ip_literal(e->host)) {
      env_->logger.warn("agent", "join address {} skipped: {}", a,
                        e ? "host names are not resolved; use an IP address" : e.error().message);
      continue;
    }
    out.push_back(gossip::Address{e->host, e->port});
  }
  return out;
}

gossip::Tags Agent::gossip_tags(bool wan) const {
  gossip::Tags t = {{"role", config_.server ? "consul" : "node"},
                    {"dc", config_.datacenter},
                    {"id", node_id_},
                    {"vsn", "2"},
                    {"vsn_min", "2"},
                    {"vsn_max", "3"},
                    {"build", fmt::format("{}:praetor", kVersion)}};
  if (!wan) t["segment"] = "";
  if (config_.server) {
    t["port"] = std::to_string(config_.ports.server);
    t["raft_vsn"] = "3";
    if (!wan && config_.ports.serf_wan > 0) t["wan_join_port"] = std::to_string(config_.ports.serf_wan);
    if (config_.bootstrap || config_.dev) t["bootstrap"] = "1";
    if (config_.bootstrap_expect > 0) t["expect"] = std::to_string(config_.bootstrap_expect);
    // Not a Consul tag: this server has Raft state, so bootstrap_expect must not bootstrap a
    // second cluster with it (Consul asks each server for its Raft peers over RPC instead).
    if (!wan && has_raft_state()) t["raft_state"] = "1";
  }
  return t;
}

bool Agent::has_raft_state() const {
  return raft_ && (raft_->term() > Term(0) || !raft_->status().membership.voters.empty());
}

void Agent::refresh_gossip_tags(Instant now) {
  // The only tag that changes while running is raft_state: rebuild the tags when it does.
  const bool state = has_raft_state();
  if (state == tagged_raft_state_) return;
  tagged_raft_state_ = state;
  for (Pool* pool : {&lan_, &wan_}) {
    if (!pool->serf || leaving_) continue;
    gossip::Tags tags = gossip_tags(pool->wan);
    if (tags == pool->tags) continue;
    pool->tags = tags;
    if (auto r = pool->serf->set_tags(now, std::move(tags)); !r) {
      env_->logger.warn("agent", "could not update gossip tags: {}", r.error().message);
    }
    drive_gossip(*pool, now);
  }
}

// --- inputs ----------------------------------------------------------------------------------

void Agent::on_gossip_frame(const Endpoint& from, Channel channel, Bytes payload) {
  const bool wan = channel == Channel::kGossipWan || channel == Channel::kGossipWanStream;
  Pool& pool = wan ? wan_ : lan_;
  if (!pool.serf) return;
  const bool stream = channel == Channel::kGossipLanStream || channel == Channel::kGossipWanStream;
  const Instant now = env_->clock.now();
  pool.serf->step(now, gossip::Address{from.host, from.port}, payload,
                  stream ? gossip::Transport::kStream : gossip::Transport::kPacket);
  drive_gossip(pool, now);
  reconcile_if_due(now);  // member events scheduled it
  arm_timer();
}

void Agent::drive_gossip(Pool& pool, Instant now) {
  if (!pool.serf) return;
  gossip::SerfOutput out = pool.serf->take_output();
  for (auto& p : out.packets) {
    const Channel ch = p.transport == gossip::Transport::kStream ? pool.streams : pool.packets;
    env_->network.send(Endpoint{p.to.host, p.to.port}, ch, std::move(p.bytes));
  }
  for (const auto& e : out.events) on_serf_event(pool, e, now);
  if (!out.events.empty() && !config_.dev && !config_.data_dir.empty() &&
      pool.snapshot_due == Instant::never()) {
    pool.snapshot_due = now + kSnapshotDelay;
  }
  answer_join_waits(pool, now);
}

void Agent::on_serf_event(Pool& pool, const gossip::SerfEvent& e, Instant now) {
  const std::string_view label = pool.wan ? "wan" : "lan";
  const auto& m = e.member;
  std::string_view what;
  switch (e.kind) {
    case gossip::SerfEventKind::kMemberJoin: what = "EventMemberJoin"; break;
    case gossip::SerfEventKind::kMemberLeaving: what = ""; break;
    case gossip::SerfEventKind::kMemberLeave: what = "EventMemberLeave"; break;
    case gossip::SerfEventKind::kMemberFailed: what = "EventMemberFailed"; break;
    case gossip::SerfEventKind::kMemberUpdate: what = "EventMemberUpdate"; break;
    case gossip::SerfEventKind::kMemberReap: what = "EventMemberReap"; break;
    case gossip::SerfEventKind::kNameConflict:
      env_->logger.error(fmt::format("serf.{}", label),
                         "serf: Name conflict: {} claimed by {} and {}", m.name,
                         addr_text(m.address), addr_text(e.conflicting_address));
      return;
    case gossip::SerfEventKind::kUser:
      if (!pool.wan) on_user_event(e.user);
      return;
  }
  if (!what.empty()) {
    env_->logger.info(fmt::format("serf.{}", label), "serf: {}: {} {}", what, m.name, m.address.host);
  }
  if (pool.wan) return;  // the WAN pool is for members -wan and datacenter discovery
  schedule_reconcile(now);
  auto info = server_from_member(m);
  if (!info) return;
  if (e.kind == gossip::SerfEventKind::kMemberJoin || e.kind == gossip::SerfEventKind::kMemberUpdate) {
    if (e.kind == gossip::SerfEventKind::kMemberJoin && wan_.serf && !leaving_ &&
        info->datacenter == config_.datacenter) {
      // Consul's flood join: servers of a datacenter find each other in the WAN pool through
      // the LAN pool, so one WAN join per datacenter federates every server.
      const std::string wan_name = fmt::format("{}.{}", m.name, info->datacenter);
      const std::string port_text = tag(m, "wan_join_port");
      std::uint16_t port = 0;
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
      if (port != 0 && !wan_.serf->members().contains(wan_name)) {
        wan_.serf->join(now, {gossip::Address{m.address.host, port}});
        drive_gossip(wan_, now);
      }
    }
    if (info->datacenter == config_.datacenter && info->raft_id != raft_id_.value()) {
      if (!servers_.contains(NodeId(info->raft_id))) {
        env_->logger.info("agent", "Adding LAN server {} (Addr: tcp/{}) (DC: {})", info->name,
                          info->address, info->datacenter);
      }
      merge_server(*info);
    }
  }
}

std::optional<ServerInfo> Agent::server_from_member(const gossip::SerfMember& m) const {
  if (tag(m, "role") != "consul") return std::nullopt;
  const std::string id = tag(m, "id");
  const std::string port_text = tag(m, "port");
  int port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (id.empty() || ec != std::errc() || port <= 0 || port > 65535) return std::nullopt;
  ServerInfo info;
  info.name = m.name;
  info.node_id = id;
  info.datacenter = tag(m, "dc");
  info.address = Endpoint{m.address.host, static_cast<std::uint16_t>(port)}.to_string();
  info.raft_id = raft_node_id(id).value();
  const std::string expect = tag(m, "expect");
  std::uint32_t n = 0;
  std::from_chars(expect.data(), expect.data() + expect.size(), n);
  info.bootstrap_expect = n;
  info.bootstrapped = tag(m, "raft_state") == "1";
  return info;
}

bool Agent::server_alive(NodeId id) const {
  if (id == raft_id_ && config_.server) return true;
  if (!lan_.serf) return false;
  auto info = servers_.find(id);
  if (info == servers_.end()) return false;
  const auto& members = lan_.serf->members();
  auto m = members.find(info->second.name);
  // The member must still be the same server (a rebuilt server keeps its name, not its id).
  return m != members.end() && m->second.status == gossip::SerfStatus::kAlive &&
         tag(m->second, "id") == info->second.node_id;
}

// --- joins -----------------------------------------------------------------------------------

void Agent::answer_join_waits(Pool& pool, Instant now) {
  if (pool.join_waits.empty() || !pool.serf) return;
  auto joined = [&](const gossip::Address& a) {
    for (const auto& [name, m] : pool.serf->members()) {
      if (m.address == a && m.status == gossip::SerfStatus::kAlive) return true;
    }
    return false;
  };
  std::vector<Pool::JoinWait> keep;
  bool start_join_failed = false;
  for (auto& w : pool.join_waits) {
    const bool ok = joined(w.address);
    if (!ok && w.deadline > now) {
      keep.push_back(std::move(w));
      continue;
    }
    if (w.request == RequestId(0)) {
      // start_join.
      if (ok) {
        env_->logger.info("agent", "({}) joined: number_of_nodes=1", pool.wan ? "WAN" : "LAN");
      } else {
        env_->logger.error("agent", "Error starting agent: Failed to join {}: no answer within {}",
                           addr_text(w.address), kJoinTimeout);
        start_join_failed = true;
      }
      continue;
    }
    if (ok) {
      respond(w.request, HttpResponse::text(200, ""));
    } else {
      respond(w.request, HttpResponse::text(
                             500, fmt::format("Failed to join {}: no answer within {}",
                                              addr_text(w.address), kJoinTimeout)));
    }
  }
  pool.join_waits = std::move(keep);
  if (start_join_failed && !stopping_) {
    stopping_ = true;
    env_->control.shutdown(1);
  }
}

void Agent::attempt_retry_join(Pool& pool, Instant now) {
  pool.next_retry = Instant::never();
  if (!pool.serf || pool.retry_join.empty() || leaving_) return;
  std::size_t alive = 0;
  for (const auto& [name, m] : pool.serf->members()) {
    if (m.status == gossip::SerfStatus::kAlive && name != pool.serf->name()) ++alive;
  }
  const std::string_view label = pool.wan ? "WAN" : "LAN";
  if (alive > 0) {
    env_->logger.info("agent", "({}) joined: number_of_nodes={}", label, alive + 1);
    return;  // done: from now on gossip itself keeps the membership
  }
  if (pool.retry_max > 0 && pool.retry_attempts >= pool.retry_max) {
    env_->logger.error("agent", "({}) max join retry exhausted, exiting", label);
    stopping_ = true;
    env_->control.shutdown(1);
    return;
  }
  env_->logger.warn("agent", "Join cluster failed, will retry: cluster={} retry_interval={}", label,
                    pool.retry_interval);
  ++pool.retry_attempts;
  pool.serf->join(now, pool.retry_join);
  pool.next_retry = now + pool.retry_interval;
  drive_gossip(pool, now);
}

void Agent::handle_join(RequestId id, HttpRequest& request) {
  const std::string address = request.path.substr(std::string_view("/v1/agent/join/").size());
  const bool wan = request.has_query("wan") && request.query_value("wan") != "0";
  Pool& pool = wan ? wan_ : lan_;
  if (!pool.serf) {
    respond(id, HttpResponse::text(500, wan ? "Must be a server to join the WAN pool"
                                            : "Gossip is not running"));
    return;
  }
  const int port = wan ? config_.ports.serf_wan : config_.ports.serf_lan;
  auto e = parse_endpoint(address, static_cast<std::uint16_t>(port));
  if (address.empty() || !e || !config_detail::is_ip_literal(e->host)) {
    // Joins name IP literals: the core resolves no host names.
    respond(id, HttpResponse::text(400, fmt::format("Invalid join address \"{}\": {}", address,
                                                    e ? "not an IP literal" : e.error().message)));
    return;
  }
  const Instant now = env_->clock.now();
  gossip::Address target{e->host, e->port};
  env_->logger.info("agent", "({}) joining: {}_addresses=[{}]", wan ? "WAN" : "LAN",
                    wan ? "wan" : "lan", addr_text(target));
  pool.serf->join(now, {target});
  pool.join_waits.push_back({id, target, now + kJoinTimeout});
  drive_gossip(pool, now);
  arm_timer();
}

void Agent::handle_force_leave(RequestId id, HttpRequest& request) {
  const std::string node = request.path.substr(std::string_view("/v1/agent/force-leave/").size());
  const bool wan = request.has_query("wan");
  Pool& pool = wan ? wan_ : lan_;
  if (node.empty() || !pool.serf) {
    respond(id, HttpResponse::text(400, "Missing node name"));
    return;
  }
  const Instant now = env_->clock.now();
  auto r = pool.serf->force_leave(now, node, request.has_query("prune"));
  if (!r) {
    respond(id, HttpResponse::text(500, r.error().message));
    return;
  }
  drive_gossip(pool, now);
  reconcile_if_due(now);
  respond(id, HttpResponse::text(200, ""));
  arm_timer();
}

// --- views -----------------------------------------------------------------------------------

namespace {

json member_to_json(const gossip::SerfMember& m) {
  json tags = json::object();
  for (const auto& [k, v] : m.tags) tags[k] = v;
  return {{"Name", m.name},
          {"Addr", m.address.host},
          {"Port", m.address.port},
          {"Tags", tags},
          {"Status", status_code(m.status)},
          {"ProtocolMin", 1},
          {"ProtocolMax", 5},
          {"ProtocolCur", 2},
          {"DelegateMin", 2},
          {"DelegateMax", 5},
          {"DelegateCur", 4}};
}

}  // namespace

std::string Agent::members_json(bool wan) const {
  const Pool& pool = wan ? wan_ : lan_;
  json out = json::array();
  if (!pool.serf) return json_text(out);
  for (const auto& [name, m] : pool.serf->members()) out.push_back(member_to_json(m));
  return json_text(out);
}

std::string Agent::member_json() const {
  if (lan_.serf) {
    const auto& members = lan_.serf->members();
    if (auto it = members.find(lan_.serf->name()); it != members.end()) {
      return json_text(member_to_json(it->second));
    }
  }
  return "{}";
}

std::vector<std::string> Agent::known_datacenters() const {
  // Nearest first, as Consul lists them: ours, then the others by name (Consul orders the others
  // by network coordinates, which praetor does not keep yet; docs/http-api.md).
  std::vector<std::string> others;
  if (wan_.serf) {
    for (const auto& [name, m] : wan_.serf->members()) {
      const std::string dc = tag(m, "dc");
      if (!dc.empty() && dc != config_.datacenter && m.status != gossip::SerfStatus::kLeft) {
        others.push_back(dc);
      }
    }
  }
  std::sort(others.begin(), others.end());
  others.erase(std::unique(others.begin(), others.end()), others.end());
  std::vector<std::string> dcs{config_.datacenter};
  dcs.insert(dcs.end(), others.begin(), others.end());
  return dcs;
}

// --- timers, snapshot, leave -------------------------------------------------------------------

Instant Agent::gossip_deadline() const {
  Instant earliest = Instant::never();
  for (const Pool* pool : {&lan_, &wan_}) {
    if (!pool->serf) continue;
    earliest = std::min({earliest, pool->serf->next_deadline(), pool->next_retry,
                         pool->snapshot_due});
    for (const auto& w : pool->join_waits) earliest = std::min(earliest, w.deadline);
  }
  if (leaving_) earliest = std::min(earliest, leave_deadline_);
  return earliest;
}

void Agent::gossip_wake(Instant now) {
  for (Pool* pool : {&lan_, &wan_}) {
    if (!pool->serf) continue;
    if (pool->serf->next_deadline() <= now) {
      pool->serf->advance_time(now);
      drive_gossip(*pool, now);
    }
    if (pool->next_retry <= now) attempt_retry_join(*pool, now);
    if (pool->snapshot_due <= now) save_member_snapshot(*pool);
    answer_join_waits(*pool, now);
  }
  if (leaving_) {
    bool done = true;
    for (const Pool* pool : {&lan_, &wan_}) {
      if (pool->serf && pool->serf->leave_phase() != gossip::LeavePhase::kDone) done = false;
    }
    if (done || now >= leave_deadline_) {
      if (!done) env_->logger.warn("agent", "leave did not finish spreading in {}", kLeaveTimeout);
      for (Pool* pool : {&lan_, &wan_}) {
        if (pool->serf) save_member_snapshot(*pool);
      }
      finish_stop();
    }
  }
}

void Agent::save_member_snapshot(Pool& pool) {
  pool.snapshot_due = Instant::never();
  if (!pool.serf || config_.dev || config_.data_dir.empty()) return;
  // Who was alive, so a restart can rejoin them; "leave" when we left gracefully.
  std::string text;
  for (const auto& [name, m] : pool.serf->members()) {
    if (name == pool.serf->name() || m.status != gossip::SerfStatus::kAlive) continue;
    text += fmt::format("alive {} {}\n", name, addr_text(m.address));
  }
  if (leaving_) text += "leave\n";
  WriteBatch batch;
  batch.ops.push_back({WriteOp::Kind::kReplace, std::string(snapshot_file(pool.wan)),
                       to_bytes(text), 0});
  // Synced (at most once per kSnapshotDelay): a machine crash must not lose whom to rejoin,
  // and the leave line decides whether a restart rejoins at all.
  batch.sync = true;
  env_->storage.write(std::move(batch), next_ticket_);
  next_ticket_ = next_ticket_.next();
}

void Agent::begin_leave(Instant now) {
  leaving_ = true;
  leave_deadline_ = now + kLeaveTimeout;
  env_->logger.info("agent", "Gracefully shutting down agent...");
  for (Pool* pool : {&lan_, &wan_}) {
    if (!pool->serf) continue;
    pool->serf->leave(now);
    drive_gossip(*pool, now);
  }
  arm_timer();
}

}  // namespace praetor::node
