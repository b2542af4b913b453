#include "sim/agent_scenario.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "core/dns/message.hpp"
#include "core/node/agent.hpp"
#include "sim/checkers.hpp"
#include "sim/world.hpp"

namespace praetor::sim {

namespace {

using node::Agent;

// How long a scripted check run takes.
constexpr Duration kCheckRunTime = Duration::milliseconds(100);
// A DNS query answered later than this does not count as served.
constexpr Duration kDnsServedBound = Duration::seconds(1);
// After the timeline ends: how long the final reads of every key may take.
constexpr Duration kFinalReadWindow = Duration::seconds(30);
constexpr Duration kFinalReadTry = Duration::seconds(3);
// WAN membership is sampled this often while a heal waits for it.
constexpr Duration kWanSample = Duration::milliseconds(250);
// 5xx bodies meaning "refused before anything was proposed" (as in KvWorkload).
constexpr std::string_view kDefiniteErrors[] = {"No cluster leader", "No known Consul servers"};

std::string secs(Duration d) { return fmt::format("{:.3f}s", d.seconds_f()); }

std::string addresses_text(const std::set<std::string>& a) {
  return a.empty() ? std::string("no records") : fmt::format("{}", fmt::join(a, ","));
}

// One DNS query of a prober and what came back.
struct ProbeRecord {
  Instant sent;
  Instant answered = Instant::never();
  int rcode = -1;
  std::set<std::string> addresses;
  bool served() const {
    return answered != Instant::never() && answered - sent <= kDnsServedBound &&
           (rcode == dns::rcode::kNoError || rcode == dns::rcode::kNxDomain);
  }
};

std::string rcode_text(int rcode) {
  switch (rcode) {
    case dns::rcode::kNoError:
      return "NOERROR";
    case dns::rcode::kServFail:
      return "SERVFAIL";
    case dns::rcode::kNxDomain:
      return "NXDOMAIN";
    case dns::rcode::kRefused:
      return "REFUSED";
    default:
      return fmt::format("rcode {}", rcode);
  }
}

std::string answer_text(const ProbeRecord& r) {
  if (r.answered == Instant::never()) return "no answer";
  if (r.rcode != dns::rcode::kNoError) return rcode_text(r.rcode);
  return addresses_text(r.addresses);
}

struct ProbeLog {
  std::string process;  // the prober's World name
  std::string node;     // the agent asked
  std::string datacenter;
  std::string name;
  Duration every;
  bool cross_dc = false;
  std::vector<ProbeRecord> records;
  std::optional<std::pair<int, std::set<std::string>>> last_told;  // for the timeline
};

// An application asking an agent's DNS port for one name's A records, every `every`.
class Prober final : public node::Process {
 public:
  using Observer = std::function<void(ProbeLog&, const ProbeRecord&)>;
  Prober(node::Endpoint agent, ProbeLog* log, Observer observer)
      : agent_(std::move(agent)), log_(log), observer_(std::move(observer)) {}
  void start(node::Env& env) override {
    env_ = &env;
    env.timer.wake_at(env.clock.now());
  }
  void on_wake(Instant now) override {
    dns::Message q;
    q.header.id = ++id_;
    q.header.rd = true;
    q.questions.push_back(
        dns::Question{dns::name_from_text(log_->name + "."), dns::type::kA, dns::klass::kIn});
    pending_[id_] = log_->records.size();
    ProbeRecord record;
    record.sent = now;
    log_->records.push_back(std::move(record));
    env_->network.send(agent_, node::Channel::kDns, dns::encode(q));
    env_->timer.wake_at(now + log_->every);
  }
  void on_frame(const node::Endpoint&, node::Channel, Bytes payload) override {
    auto m = dns::decode(payload);
    if (!m) return;
    auto it = pending_.find(m->header.id);
    if (it == pending_.end()) return;  // a duplicate, or an answer to a forgotten query
    ProbeRecord& r = log_->records[it->second];
    pending_.erase(it);
    r.answered = env_->clock.now();
    r.rcode = m->header.rcode;
    for (const auto& rr : m->answers) {
      if (const auto* a = std::get_if<dns::RdataA>(&rr.rdata)) {
        r.addresses.insert(
            fmt::format("{}.{}.{}.{}", a->address[0], a->address[1], a->address[2], a->address[3]));
      }
    }
    if (observer_) observer_(*log_, r);
  }
  void on_written(Ticket, Result<void>) override {}
  void on_check_result(CheckRunId, node::ExecResult) override {}
  void on_client_request(RequestId, node::HttpRequest) override {}
  void stop(node::StopReason) override { env_->control.shutdown(0); }

 private:
  node::Endpoint agent_;
  ProbeLog* log_;
  Observer observer_;
  node::Env* env_ = nullptr;
  std::uint16_t id_ = 0;
  std::map<std::uint16_t, std::size_t> pending_;
};

struct OpMeta {
  std::string node;  // the agent asked
  std::string datacenter;
  std::string key;  // without the datacenter prefix
  bool final_read = false;
};

struct KvClient {
  FileKvClient spec;
  std::string datacenter;
  std::optional<RequestId> outstanding;
  std::size_t op = 0;
  Instant deadline;
  std::uint64_t seq = 0;
  int state = -1;  // last logged: -1 nothing yet, 0 ok, 1 failing
};

struct Window {
  Instant from;
  Instant to = Instant::never();
};

class Run {
 public:
  Run(const ScenarioFile& sf, const ScenarioOptions& options, bool keep)
      : sf_(sf),
        options_(options),
        keep_(keep),
        root_(options.seed),
        world_(root_.next_u64()),
        rng_(root_.fork()),
        end_(Instant::zero() + sf.duration),
        datacenters_(sf.datacenters()) {
    if (options.trace_out != nullptr) world_.trace().set_echo(options.trace_out);
    for (const auto& dc : datacenters_) servers_[dc] = sf.servers_in(dc);
  }

  FileRunResult run();

 private:
  // --- setup --------------------------------------------------------------------------------
  node::AgentConfig agent_config(const FileNode& n) const;
  std::vector<std::string> check_args(const FileService& s) const;
  void add_nodes();
  ProbeLog& add_prober(const std::string& node, const std::string& name, Duration every,
                       bool cross_dc);
  std::string free_address();
  void set_outcomes();
  void schedule_actions();
  void perform(const FileAction& a);
  void partition(const FileAction& a);
  void process_action(const FileAction& a);
  void restart_later(const std::string& node, Duration after);
  void clock_action(const FileAction& a);
  void rolling_restart(const FileAction& a);
  void service_action(const FileAction& a);

  // --- workload -----------------------------------------------------------------------------
  void kv_tick(std::size_t c);
  void kv_issue(std::size_t c);
  void kv_done(std::size_t c, const ClientReply& reply);
  void kv_state(std::size_t c, bool ok, const std::string& why);
  void submit(const std::string& node, node::HttpRequest request,
              std::function<void(const ClientReply&)> done);
  void final_reads();

  // --- observation --------------------------------------------------------------------------
  void note(const std::string& text);
  bool observe();
  std::string leader_of(const std::string& dc);
  void track_leaders();
  void check_wan();

  // --- expectations -------------------------------------------------------------------------
  void evaluate();
  void expect_failover(const FileExpectation& e);
  void expect_linearizable();
  void expect_no_lost_writes();
  void expect_serving(const FileExpectation& e);
  void expect_leader(const FileExpectation& e);
  void expect_wan(const FileExpectation& e);
  void expect_cross_dc(const FileExpectation& e);
  void fail(std::string reason) { result_.result.failures.push_back(std::move(reason)); }
  void measure(std::string line) { result_.measurements.push_back(std::move(line)); }
  void worst(const std::string& what, Duration d) {
    auto [it, inserted] = result_.worst.try_emplace(what, d);
    if (!inserted) it->second = std::max(it->second, d);
  }
  const ProbeLog* probe(const std::string& node, const std::string& name, bool cross_dc) const;
  std::string dc_of(const std::string& node) const;
  std::string address_of(const std::string& node) const { return sf_.node(node)->address; }

  const ScenarioFile& sf_;
  const ScenarioOptions& options_;
  bool keep_;
  Rng root_;
  World world_;
  Rng rng_;
  Instant end_;
  std::vector<std::string> datacenters_;
  std::map<std::string, std::vector<const FileNode*>> servers_;
  bool capped_ = false;
  FileRunResult result_;

  std::string master_;
  std::set<std::string> db_down_;
  std::vector<std::unique_ptr<ProbeLog>> probes_;
  std::size_t next_probe_address_ = 1;
  std::vector<KvClient> clients_;
  std::vector<KvOp> history_;
  std::vector<OpMeta> meta_;
  std::map<RequestId, std::function<void(const ClientReply&)>> waiting_;
  std::map<std::string, FinalRead> final_values_;  // "dc/key" -> what the end read

  std::vector<Window> partitions_;
  std::map<std::string, std::string> leader_;           // dc -> current leader ("" none)
  std::map<std::string, bool> had_leader_;              // dc -> elected at least once
  std::map<std::string, Instant> leaderless_since_;     // dc -> open gap
  std::map<std::string, std::vector<Window>> gaps_;     // dc -> leaderless stretches
  std::vector<std::pair<Instant, Instant>> wan_heals_;  // heal -> all alive (never: not yet)
  Instant next_wan_check_ = Instant::zero();
  bool wan_ = false;  // some server joins the WAN: sample it
  std::size_t wan_servers_ = 0;
  std::optional<bool> wan_all_alive_;  // last logged (nullopt: not formed yet)
};

// --- setup ----------------------------------------------------------------------------------

std::vector<std::string> Run::check_args(const FileService& s) const {
  const char* script =
      s.role == FileService::Role::kMaster ? "check_mysql_master.sh" : "check_mysql_slave.sh";
  return {"/bin/sh", "-c", fmt::format("/data/consul/shell/{} {} {}", script, s.port, s.name)};
}

node::AgentConfig Run::agent_config(const FileNode& n) const {
  node::AgentConfig c;
  c.node_name = n.name;
  c.datacenter = n.datacenter;
  c.server = n.server;
  c.bootstrap_expect = n.server ? static_cast<int>(sf_.servers_in(n.datacenter).size()) : 0;
  c.data_dir = "/data/consul";
  c.bind_addr = n.address;
  c.raft_multiplier = sf_.raft_multiplier;
  c.check_invariants_each_input = sf_.invariants;
  for (const auto& j : n.retry_join) c.retry_join.push_back(sf_.node(j)->address);
  for (const auto& j : n.retry_join_wan) c.retry_join_wan.push_back(sf_.node(j)->address);
  c.retry_interval = sf_.retry_interval;
  c.retry_interval_wan = sf_.retry_interval;
  c.rejoin_after_leave = true;
  if (!n.server) c.enable_local_script_checks = true;
  for (const auto& s : sf_.services) {
    if (std::find(s.nodes.begin(), s.nodes.end(), n.name) == s.nodes.end()) continue;
    node::ServiceDefinition d;
    d.id = d.name = s.name;
    d.port = s.port;
    d.tags = s.tags;
    d.address = n.address;
    node::CheckDefinition check;
    check.id = "service:" + s.name;
    check.name = s.role == FileService::Role::kMaster ? "MySQL master" : "MySQL replica";
    check.service_id = s.name;
    check.args = check_args(s);
    check.interval = s.interval;
    check.timeout = std::min(s.interval, Duration::seconds(3));
    d.checks.push_back(check);
    c.services.push_back(d);
  }
  return c;
}

void Run::add_nodes() {
  for (const auto& n : sf_.nodes) {
    NodeOptions o;
    o.name = n.name;
    o.datacenter = n.datacenter;
    o.addresses = {n.address};
    world_.add_process(o, [this, &n] { return std::make_unique<Agent>(agent_config(n)); });
  }
}

std::string Run::free_address() {
  while (true) {
    std::string a =
        fmt::format("127.0.{}.{}", 200 + next_probe_address_ / 250, 1 + next_probe_address_ % 250);
    ++next_probe_address_;
    bool used = false;
    for (const auto& n : sf_.nodes) used = used || n.address == a;
    if (!used) return a;
  }
}

ProbeLog& Run::add_prober(const std::string& node, const std::string& name, Duration every,
                          bool cross_dc) {
  auto log = std::make_unique<ProbeLog>();
  log->process = fmt::format("dns{}-{}", probes_.size() + 1, node);
  log->node = node;
  log->datacenter = dc_of(node);
  log->name = name;
  log->every = every;
  log->cross_dc = cross_dc;
  NodeOptions o;
  o.name = log->process;
  o.datacenter = log->datacenter;  // on the agent's side of any datacenter partition
  o.addresses = {free_address()};
  ProbeLog* raw = log.get();
  probes_.push_back(std::move(log));
  node::Endpoint agent{address_of(node), 8600};
  world_.add_process(o, [this, agent, raw] {
    return std::make_unique<Prober>(agent, raw, [this](ProbeLog& l, const ProbeRecord& r) {
      // Timeline: only changes of what this prober is told.
      auto told = std::make_pair(r.rcode, r.addresses);
      if (l.last_told != told) {
        l.last_told = told;
        note(fmt::format("dns {} at {}: {}", l.name, l.node, answer_text(r)));
      }
    });
  });
  return *raw;
}

std::string Run::dc_of(const std::string& node) const { return sf_.node(node)->datacenter; }

void Run::set_outcomes() {
  for (const auto& s : sf_.services) {
    for (const auto& host : s.nodes) {
      const bool up = !db_down_.contains(host);
      const bool is_master = host == master_;
      const bool pass = up && (s.role == FileService::Role::kMaster ? is_master : !is_master);
      ScriptedOutcome o;
      o.exit_code = pass ? 0 : 2;
      o.output = !up         ? "database not answering"
                 : is_master ? "read_only=OFF (master)"
                             : "read_only=ON (replica)";
      o.run_time = kCheckRunTime;
      world_.exec(host).set(check_args(s), o);
    }
  }
}

void Run::schedule_actions() {
  for (const auto& a : sf_.actions) {
    world_.schedule(a.at, fmt::format("scenario action (line {})", a.line),
                    [this, &a](World&) { perform(a); });
  }
}

void Run::perform(const FileAction& a) {
  using K = FileAction::Kind;
  switch (a.kind) {
    case K::kFlip:
      note(fmt::format("flip: master {} -> {}", master_, a.target));
      master_ = a.target;
      set_outcomes();
      break;
    case K::kDbDown:
    case K::kDbUp:
      if (a.kind == K::kDbDown) {
        db_down_.insert(a.target);
      } else {
        db_down_.erase(a.target);
      }
      note(fmt::format("database on {} {}", a.target, a.kind == K::kDbDown ? "down" : "up"));
      set_outcomes();
      break;
    case K::kPartition:
      partition(a);
      break;
    case K::kHeal:
      world_.network().heal();
      if (!partitions_.empty() && partitions_.back().to == Instant::never()) {
        partitions_.back().to = world_.now();
      }
      wan_heals_.emplace_back(world_.now(), Instant::never());
      next_wan_check_ = world_.now();
      note("heal");
      break;
    case K::kKillLeader:
    case K::kCrash:
    case K::kRestart:
    case K::kStop:
      process_action(a);
      break;
    case K::kSkew:
    case K::kDrift:
      clock_action(a);
      break;
    case K::kLoss: {
      LinkConfig link = world_.network().default_link();
      link.loss = a.percent / 100.0;
      world_.network().set_default_link(link);
      note(fmt::format("loss {}%", a.percent));
      break;
    }
    case K::kRollingRestart:
      rolling_restart(a);
      break;
    case K::kRegister:
    case K::kDeregister:
      service_action(a);
      break;
  }
}

void Run::partition(const FileAction& a) {
  std::vector<NodeSet> sides;
  std::vector<std::string> text;
  for (const auto& side : a.sides) {
    NodeSet set;
    for (const auto& item : side) {
      if (sf_.node(item) != nullptr) {
        set.push_back(item);
      } else {
        // A datacenter: its agents and the probers standing with them.
        for (const auto& n : world_.network().nodes_in(item)) set.push_back(n);
      }
    }
    sides.push_back(set);
    text.push_back(fmt::format("{}", fmt::join(side, ",")));
  }
  world_.network().partition(sides[0], sides[1]);
  if (partitions_.empty() || partitions_.back().to != Instant::never()) {
    partitions_.push_back(Window{world_.now()});
  }
  note(fmt::format("partition {} | {}", text[0], text[1]));
}

void Run::restart_later(const std::string& node, Duration after) {
  world_.schedule(world_.now() + after, "restart " + node, [this, node](World& w) {
    w.restart(node);
    note("restart " + node);
  });
}

void Run::process_action(const FileAction& a) {
  using K = FileAction::Kind;
  const std::string later = a.duration ? fmt::format(" (restart in {})", secs(*a.duration)) : "";
  if (a.kind == K::kKillLeader) {
    const std::string leader = leader_of(a.target);
    if (leader.empty()) {
      note(fmt::format("kill leader {}: there is no leader to kill", a.target));
      return;
    }
    world_.crash(leader);
    note(fmt::format("kill leader {}: crash {}{}", a.target, leader, later));
    if (a.duration) restart_later(leader, *a.duration);
  } else if (a.kind == K::kCrash) {
    world_.crash(a.target);
    note(fmt::format("crash {}{}", a.target, later));
    if (a.duration) restart_later(a.target, *a.duration);
  } else if (a.kind == K::kRestart) {
    world_.restart(a.target);
    note("restart " + a.target);
  } else {
    world_.stop(a.target);
    note("stop " + a.target + " (SIGINT)");
  }
}

void Run::clock_action(const FileAction& a) {
  ClockModel m = world_.clock(a.target);
  if (a.kind == FileAction::Kind::kSkew) {
    m.wall_skew = a.amount;
    const bool behind = a.amount < Duration::zero();
    note(fmt::format("skew {} wall clock by {}{}", a.target, behind ? "-" : "+",
                     secs(behind ? Duration::zero() - a.amount : a.amount)));
  } else {
    // Keep the monotonic reading continuous: move the offset so local(now) is unchanged.
    const Instant local_now = m.local(world_.now());
    m.drift_ppm = a.ppm;
    m.offset = Duration::zero();
    m.offset = local_now - m.local(world_.now());
    note(fmt::format("drift {} {:+}ppm", a.target, a.ppm));
  }
  world_.set_clock(a.target, m);
}

void Run::rolling_restart(const FileAction& a) {
  const auto servers = sf_.servers_in(a.target);
  note(fmt::format("rolling restart of {}: {} servers, each down {}, one every {}", a.target,
                   servers.size(), secs(*a.duration), secs(a.every)));
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const std::string name = servers[i]->name;
    const Instant at = world_.now() + a.every * static_cast<std::int64_t>(i);
    const bool crash = a.crash;
    world_.schedule(at, "rolling restart " + name, [this, name, crash](World& w) {
      if (crash) {
        w.crash(name);
      } else {
        w.stop(name);
      }
      note(fmt::format("rolling restart: {} {}", crash ? "crash" : "stop", name));
    });
    world_.schedule(at + *a.duration, "restart " + name, [this, name](World& w) {
      w.restart(name);
      note("rolling restart: restart " + name);
    });
  }
}

// Service registration through the agent's own HTTP API, as `praetor services register` does.
void Run::service_action(const FileAction& a) {
  const bool add = a.kind == FileAction::Kind::kRegister;
  node::HttpRequest r;
  r.method = "PUT";
  r.path = add ? "/v1/agent/service/register" : "/v1/agent/service/deregister/" + a.service;
  if (add) r.body = fmt::format(R"({{"Name":"{}","Port":{}}})", a.service, a.port);
  const std::string what =
      fmt::format("{} {} at {}", add ? "register" : "deregister", a.service, a.target);
  note(what);
  submit(a.target, r, [this, what](const ClientReply& reply) {
    note(fmt::format(
        "{}: {}", what,
        reply.status == ClientReply::Status::kAnswered
            ? fmt::format("{}{}{}", reply.response.status, reply.response.body.empty() ? "" : " ",
                          reply.response.body.substr(0, 80))
            : std::string("no answer")));
  });
}

// --- workload -------------------------------------------------------------------------------

void Run::submit(const std::string& node, node::HttpRequest request,
                 std::function<void(const ClientReply&)> done) {
  waiting_[world_.submit(node, std::move(request))] = std::move(done);
}

void Run::kv_tick(std::size_t c) {
  KvClient& k = clients_[c];
  if (world_.now() >= end_) return;
  if (k.outstanding && world_.now() >= k.deadline) {
    // The client gives up: a write's fate stays unknown, a read is dropped by the checker.
    waiting_.erase(*k.outstanding);
    k.outstanding.reset();
    kv_state(c, false, fmt::format("no answer within {}", secs(k.spec.timeout)));
  }
  if (!k.outstanding) kv_issue(c);
  world_.schedule(world_.now() + k.spec.every, "kv tick " + k.spec.node,
                  [this, c](World&) { kv_tick(c); });
}

void Run::kv_issue(std::size_t c) {
  KvClient& k = clients_[c];
  KvOp op;
  op.client = c;
  const std::string key = fmt::format("{}{}", k.spec.prefix, rng_.uniform(k.spec.keys));
  op.key = k.datacenter + "/" + key;
  op.call = world_.now();
  node::HttpRequest r;
  r.path = "/v1/kv/" + key;
  if (rng_.uniform(100) < static_cast<std::uint64_t>(k.spec.read_percent)) {
    op.kind = KvOp::Kind::kGet;
    r.method = "GET";
    r.query = {{"consistent", ""}, {"raw", ""}};
  } else {
    op.kind = KvOp::Kind::kPut;
    op.value = fmt::format("c{}-{}", c, ++k.seq);
    r.method = "PUT";
    r.body = op.value;
  }
  history_.push_back(op);
  meta_.push_back(OpMeta{k.spec.node, k.datacenter, key, false});
  k.op = history_.size() - 1;
  k.deadline = world_.now() + k.spec.timeout;
  const RequestId id = world_.submit(k.spec.node, std::move(r));
  k.outstanding = id;
  waiting_[id] = [this, c](const ClientReply& reply) { kv_done(c, reply); };
}

// Interprets an answer as the checker needs it: ok, a definite failure (no effect), or unknown.
void interpret(const ClientReply& reply, KvOp& op, std::string& why) {
  op.ret = reply.answered;
  op.outcome = KvOp::Outcome::kUnknown;
  if (reply.status == ClientReply::Status::kRefused) {
    op.outcome = KvOp::Outcome::kFail;
    why = "refused (agent down)";
    return;
  }
  if (reply.status != ClientReply::Status::kAnswered) {
    why = "connection lost";
    return;
  }
  const node::HttpResponse& r = reply.response;
  why = fmt::format("{} {}", r.status, r.body.substr(0, 60));
  if (r.status >= 500) {
    for (auto e : kDefiniteErrors) {
      if (r.body == e) op.outcome = KvOp::Outcome::kFail;
    }
    return;
  }
  if (op.kind == KvOp::Kind::kGet) {
    if (r.status == 200 || r.status == 404) {
      op.outcome = KvOp::Outcome::kOk;
      if (r.status == 200) op.read = r.body;
    }
    return;
  }
  if (r.status == 200 && r.body == "true") {
    op.outcome = KvOp::Outcome::kOk;
    op.swapped = true;
  } else if (r.status >= 400 && r.status < 500) {
    op.outcome = KvOp::Outcome::kFail;
  }
}

void Run::kv_done(std::size_t c, const ClientReply& reply) {
  KvClient& k = clients_[c];
  k.outstanding.reset();
  KvOp& op = history_[k.op];
  std::string why;
  interpret(reply, op, why);
  kv_state(c, op.outcome == KvOp::Outcome::kOk, why);
}

void Run::kv_state(std::size_t c, bool ok, const std::string& why) {
  KvClient& k = clients_[c];
  const int state = ok ? 0 : 1;
  if (state == k.state) return;
  k.state = state;
  note(ok ? fmt::format("kv client {} at {}: requests succeed", c, k.spec.node)
          : fmt::format("kv client {} at {}: requests fail ({})", c, k.spec.node, why));
}

void Run::final_reads() {
  std::set<std::pair<std::string, std::string>> keys;  // (dc, key)
  for (const auto& m : meta_) keys.emplace(m.datacenter, m.key);
  if (keys.empty()) return;
  // Let the clients' last requests finish (or time out), so the reads below come after them.
  Instant drain = world_.now();
  for (const auto& k : clients_) drain = std::max(drain, k.deadline);
  world_.run_until(
      [this] {
        observe();
        return std::none_of(clients_.begin(), clients_.end(),
                            [](const KvClient& k) { return k.outstanding.has_value(); });
      },
      drain);
  for (auto& k : clients_) {
    if (k.outstanding) waiting_.erase(*k.outstanding);  // unknown from here on
    k.outstanding.reset();
  }
  const Instant deadline = world_.now() + kFinalReadWindow;
  for (const auto& [dc, key] : keys) {
    const auto servers = sf_.servers_in(dc);
    bool done = false;
    for (std::size_t attempt = 0; !done && world_.now() < deadline; ++attempt) {
      const std::string node = servers[attempt % servers.size()]->name;
      KvOp op;
      op.client = 1000;
      op.kind = KvOp::Kind::kGet;
      op.key = dc + "/" + key;
      op.call = world_.now();
      node::HttpRequest r;
      r.method = "GET";
      r.path = "/v1/kv/" + key;
      r.query = {{"consistent", ""}, {"raw", ""}};
      const RequestId id = world_.submit(node, r);
      world_.run_until(
          [&] {
            observe();
            return world_.reply(id)->status != ClientReply::Status::kPending;
          },
          std::min(deadline, world_.now() + kFinalReadTry));
      const ClientReply* reply = world_.reply(id);
      if (reply->status == ClientReply::Status::kPending) continue;
      std::string why;
      interpret(*reply, op, why);
      if (op.outcome != KvOp::Outcome::kOk) continue;
      history_.push_back(op);
      meta_.push_back(OpMeta{node, dc, key, true});
      final_values_[op.key] = FinalRead{op.read, op.call};
      done = true;
    }
    if (!done) {
      fail(fmt::format("no-lost-writes: could not read {}/{} at the end (within {})", dc, key,
                       secs(kFinalReadWindow)));
    }
  }
}

// --- observation ----------------------------------------------------------------------------

void Run::note(const std::string& text) {
  world_.trace().add(world_.now(), "scenario", text);
  if (keep_) result_.timeline.push_back(fmt::format("{} {}", world_.now(), text));
}

std::string Run::leader_of(const std::string& dc) {
  std::string best;
  Term term(0);
  for (const FileNode* s : servers_.at(dc)) {
    const Agent* a = world_.process_as<Agent>(s->name);
    if (a != nullptr && a->raft_role() == raft::Role::kLeader && a->raft_term() >= term) {
      best = s->name;
      term = a->raft_term();
    }
  }
  return best;
}

void Run::track_leaders() {
  for (const auto& dc : datacenters_) {
    const std::string now_leader = leader_of(dc);
    auto [it, inserted] = leader_.try_emplace(dc, "");
    if (!inserted && it->second == now_leader) continue;
    if (inserted && now_leader.empty()) continue;
    it->second = now_leader;
    if (now_leader.empty()) {
      if (had_leader_[dc]) leaderless_since_[dc] = world_.now();
      note(fmt::format("leader {}: none", dc));
      continue;
    }
    const Agent* a = world_.process_as<Agent>(now_leader);
    note(fmt::format("leader {}: {} (term {})", dc, now_leader, a->raft_term().value()));
    if (auto open = leaderless_since_.find(dc); open != leaderless_since_.end()) {
      gaps_[dc].push_back(Window{open->second, world_.now()});
      leaderless_since_.erase(open);
    }
    had_leader_[dc] = true;
  }
}

// Samples the WAN pools: every running server must see every running server alive, both in
// Serf (not failed or left) and in memberlist (not even suspect). Logs when that changes.
void Run::check_wan() {
  next_wan_check_ = world_.now() + kWanSample;
  std::vector<std::pair<std::string, const gossip::Serf*>> running;
  for (const auto& n : sf_.nodes) {
    if (!n.server) continue;
    const Agent* a = world_.process_as<Agent>(n.name);
    if (a == nullptr || a->wan() == nullptr) continue;
    running.emplace_back(n.name + "." + n.datacenter, a->wan());
  }
  // Until the WAN has formed once, every WAN server must be up to call it formed.
  if (!wan_all_alive_ && running.size() < wan_servers_) return;
  std::string problem;
  for (const auto& [self, pool] : running) {
    for (const auto& [other, unused] : running) {
      auto it = pool->members().find(other);
      const gossip::Member* m = pool->swim().members().find(other);
      if (it == pool->members().end() || m == nullptr) {
        problem = fmt::format("{} does not know {}", self, other);
      } else if (it->second.status != gossip::SerfStatus::kAlive ||
                 m->state != gossip::MemberState::kAlive) {
        problem = fmt::format("{} sees {} {}", self, other,
                              m->state == gossip::MemberState::kSuspect ? "suspect" : "failed");
      }
      if (!problem.empty()) break;
    }
    if (!problem.empty()) break;
  }
  const bool all_alive = problem.empty();
  if (wan_all_alive_ != std::optional<bool>(all_alive)) {
    // While forming, "does not know" is the normal state: log only once the WAN had formed.
    if (wan_all_alive_.has_value() || all_alive) {
      note(all_alive ? std::string("wan: every running server sees every other alive")
                     : "wan: not all alive (" + problem + ")");
    }
    if (all_alive || wan_all_alive_.has_value()) wan_all_alive_ = all_alive;
  }
  if (!all_alive) return;
  for (auto& [heal, alive] : wan_heals_) {
    if (alive != Instant::never()) continue;
    alive = world_.now();
    note(fmt::format("wan: all alive {} after the heal", secs(alive - heal)));
  }
}

bool Run::observe() {
  track_leaders();
  if (wan_ && world_.now() >= next_wan_check_) check_wan();
  if (options_.max_steps != 0 && world_.events_processed() >= options_.max_steps) capped_ = true;
  return capped_;
}

// --- expectations ---------------------------------------------------------------------------

const ProbeLog* Run::probe(const std::string& node, const std::string& name, bool cross_dc) const {
  for (const auto& p : probes_) {
    if (p->node == node && p->name == name && p->cross_dc == cross_dc) return p.get();
  }
  return nullptr;
}

void Run::expect_failover(const FileExpectation& e) {
  const FileService* service = nullptr;
  for (const auto& s : sf_.services) {
    if (s.name == e.service) service = &s;
  }
  const Duration bound = e.bound.resolve(service->interval);
  const ProbeLog* log = probe(e.node, e.service + ".service.consul", false);
  std::string previous = sf_.initial_master;
  std::vector<const FileAction*> flips;
  for (const auto& a : sf_.actions) {
    if (a.kind == FileAction::Kind::kFlip) flips.push_back(&a);
  }
  if (flips.empty()) fail(fmt::format("failover {}: the timeline has no flip", e.service));
  for (std::size_t i = 0; i < flips.size(); ++i) {
    const FileAction& f = *flips[i];
    const Instant until = i + 1 < flips.size() ? flips[i + 1]->at : Instant::never();
    const std::string want = address_of(f.target);
    const ProbeRecord* first = nullptr;
    const ProbeRecord* last_before = nullptr;
    for (const auto& r : log->records) {
      if (r.sent < f.at || r.sent >= until || r.answered == Instant::never()) continue;
      if (first == nullptr) {
        if (r.rcode == dns::rcode::kNoError && r.addresses == std::set<std::string>{want}) {
          first = &r;
        } else if (r.answered <= f.at + bound) {
          last_before = &r;
        }
        continue;
      }
      // After DNS followed the flip, no answer may name another host.
      if (r.rcode == dns::rcode::kNoError && !r.addresses.empty() &&
          r.addresses != std::set<std::string>{want}) {
        fail(fmt::format("failover {} at {}: after answering {} alone ({}), DNS answered {} at {}",
                         e.service, e.node, want, first->answered, addresses_text(r.addresses),
                         r.answered));
        break;
      }
    }
    const std::string what = fmt::format("failover {} at {}: flip {} -> {} at {}", e.service,
                                         e.node, previous, f.target, f.at);
    if (first == nullptr || first->answered - f.at > bound) {
      fail(fmt::format("{}: DNS did not answer {} alone within {} (last answer in time: {}{})",
                       what, want, secs(bound),
                       last_before != nullptr ? answer_text(*last_before) : "none",
                       first != nullptr ? fmt::format("; it did at {}", first->answered) : ""));
    }
    if (first != nullptr) {
      worst(fmt::format("failover {} at {}", e.service, e.node), first->answered - f.at);
      measure(fmt::format("{}: DNS answered {} alone at {}, {} after the flip (bound {})", what,
                          want, first->answered, secs(first->answered - f.at), secs(bound)));
    }
    previous = f.target;
  }
}

void Run::expect_linearizable() {
  CheckResult check = check_kv_linearizable(history_);
  measure(fmt::format("linearizability: {} ops on {} keys checked", check.ops, check.keys));
  if (!check.ok) fail("linearizability: " + check.detail);
}

void Run::expect_no_lost_writes() {
  std::size_t acknowledged = 0;
  for (auto& reason : check_no_lost_writes(history_, final_values_, acknowledged)) {
    fail(std::move(reason));
  }
  measure(fmt::format("no-lost-writes: {} acknowledged writes, {} keys read at the end",
                      acknowledged, final_values_.size()));
}

void Run::expect_serving(const FileExpectation& e) {
  if (partitions_.empty()) {
    fail(fmt::format("serving {}: the timeline has no partition", e.datacenter));
    return;
  }
  for (const auto& w : partitions_) {
    const Instant to = std::min(w.to, end_);
    std::size_t kv_ok = 0, kv_all = 0, dns_ok = 0, dns_all = 0;
    for (std::size_t i = 0; i < history_.size(); ++i) {
      const OpMeta& m = meta_[i];
      if (m.final_read || m.datacenter != e.datacenter) continue;
      const KvClient& client = clients_[history_[i].client];
      if (history_[i].call < w.from || history_[i].call + client.spec.timeout > to) continue;
      ++kv_all;
      if (history_[i].outcome == KvOp::Outcome::kOk) ++kv_ok;
    }
    for (const auto& p : probes_) {
      if (p->cross_dc || p->datacenter != e.datacenter) continue;
      for (const auto& r : p->records) {
        if (r.sent < w.from || r.sent + kDnsServedBound > to) continue;
        ++dns_all;
        if (r.served()) ++dns_ok;
      }
    }
    auto pct = [](std::size_t ok, std::size_t all) {
      return all == 0 ? 100.0 : 100.0 * static_cast<double>(ok) / static_cast<double>(all);
    };
    const std::string line = fmt::format(
        "serving {} during the partition {}..{}: kv {}/{} ({:.1f}%), dns {}/{} ({:.1f}%)",
        e.datacenter, w.from, to, kv_ok, kv_all, pct(kv_ok, kv_all), dns_ok, dns_all,
        pct(dns_ok, dns_all));
    measure(line);
    if (kv_all + dns_all == 0) {
      fail(fmt::format("serving {}: no KV or DNS client of {} sent anything during the partition",
                       e.datacenter, e.datacenter));
    } else if (pct(kv_ok, kv_all) < e.min_percent || pct(dns_ok, dns_all) < e.min_percent) {
      fail(fmt::format("{} is below the {}% expected", line, e.min_percent));
    }
  }
}

void Run::expect_leader(const FileExpectation& e) {
  const Duration bound = e.bound.resolve(Duration::zero());
  if (!had_leader_[e.datacenter]) {
    fail(fmt::format("leader {}: never elected one", e.datacenter));
    return;
  }
  std::vector<Window> gaps = gaps_[e.datacenter];
  if (auto open = leaderless_since_.find(e.datacenter); open != leaderless_since_.end()) {
    gaps.push_back(Window{open->second, Instant::never()});
  }
  for (const auto& g : gaps) {
    const Instant to = g.to == Instant::never() ? world_.now() : g.to;
    worst("leaderless " + e.datacenter, to - g.from);
    measure(fmt::format("leader {}: none from {} to {}: {}{}", e.datacenter, g.from, to,
                        secs(to - g.from), g.to == Instant::never() ? " (still none)" : ""));
    if (to - g.from > bound) {
      fail(fmt::format("leader {}: none from {} for {} (bound {})", e.datacenter, g.from,
                       secs(to - g.from), secs(bound)));
    }
  }
}

void Run::expect_wan(const FileExpectation& e) {
  const Duration bound = e.bound.resolve(Duration::zero());
  if (wan_heals_.empty()) fail("wan-alive: the timeline has no heal");
  for (const auto& [heal, alive] : wan_heals_) {
    if (alive == Instant::never()) {
      fail(
          fmt::format("wan-alive: after the heal at {}, the WAN pools never all showed every "
                      "server alive",
                      heal));
    } else {
      worst("wan alive after heal", alive - heal);
    }
    if (alive != Instant::never() && alive - heal > bound) {
      fail(
          fmt::format("wan-alive: after the heal at {}, every server was alive only after {} "
                      "(bound {})",
                      heal, secs(alive - heal), secs(bound)));
    }
  }
}

// A DNS name of another datacenter, asked at `node` (WAN forwarding): while partitioned, every
// query is answered (SERVFAIL is fine) within the servfail bound; after each heal an answer that
// is exactly the master (for a master service) or not empty comes within the answer bound.
void Run::expect_cross_dc(const FileExpectation& e) {
  const ProbeLog* log = probe(e.node, e.name, true);
  const FileService* service = nullptr;
  for (const auto& s : sf_.services) {
    if (e.name.starts_with(s.name + ".service.") && s.role == FileService::Role::kMaster) {
      service = &s;
    }
  }
  auto master_at = [&](Instant t) {
    std::string m = sf_.initial_master;
    for (const auto& a : sf_.actions) {
      if (a.kind == FileAction::Kind::kFlip && a.at <= t) m = a.target;
    }
    return address_of(m);
  };
  for (const auto& w : partitions_) {
    const Instant to = std::min(w.to, end_);
    std::size_t answered = 0, all = 0;
    for (const auto& r : log->records) {
      if (r.sent < w.from || r.sent + e.servfail_bound > to) continue;
      ++all;
      if (r.answered != Instant::never() && r.answered - r.sent <= e.servfail_bound) {
        ++answered;
      } else {
        fail(
            fmt::format("cross-dc {} at {}: the query sent at {} during the partition got {} "
                        "within {}",
                        e.name, e.node, r.sent, answer_text(r), secs(e.servfail_bound)));
        break;
      }
    }
    measure(fmt::format("cross-dc {} at {} during the partition {}..{}: {}/{} answered within {}",
                        e.name, e.node, w.from, to, answered, all, secs(e.servfail_bound)));
  }
  for (const auto& [heal, unused] : wan_heals_) {
    const ProbeRecord* good = nullptr;
    const ProbeRecord* last = nullptr;
    for (const auto& r : log->records) {
      if (r.sent < heal || r.answered == Instant::never()) continue;
      if (r.answered - heal > e.bound.fixed) break;
      last = &r;
      const bool right =
          r.rcode == dns::rcode::kNoError &&
          (service != nullptr ? r.addresses == std::set<std::string>{master_at(r.sent)}
                              : !r.addresses.empty());
      if (right) {
        good = &r;
        break;
      }
    }
    if (good == nullptr) {
      fail(fmt::format("cross-dc {} at {}: no right answer within {} of the heal at {} (last: {})",
                       e.name, e.node, secs(e.bound.fixed), heal,
                       last != nullptr ? answer_text(*last) : "none"));
    } else {
      worst(fmt::format("cross-dc {} at {} after heal", e.name, e.node), good->answered - heal);
      measure(fmt::format("cross-dc {} at {}: {} at {}, {} after the heal", e.name, e.node,
                          answer_text(*good), good->answered, secs(good->answered - heal)));
    }
  }
}

void Run::evaluate() {
  using K = FileExpectation::Kind;
  for (const auto& e : sf_.expectations) {
    switch (e.kind) {
      case K::kFailover:
        expect_failover(e);
        break;
      case K::kLinearizable:
        expect_linearizable();
        break;
      case K::kNoLostWrites:
        expect_no_lost_writes();
        break;
      case K::kServing:
        expect_serving(e);
        break;
      case K::kLeader:
        expect_leader(e);
        break;
      case K::kWanAlive:
        expect_wan(e);
        break;
      case K::kCrossDc:
        expect_cross_dc(e);
        break;
    }
  }
}

FileRunResult Run::run() {
  add_nodes();
  for (const auto& d : sf_.dns) add_prober(d.node, d.name, d.every, false);
  for (const auto& e : sf_.expectations) {
    if (e.kind == FileExpectation::Kind::kFailover &&
        probe(e.node, e.service + ".service.consul", false) == nullptr) {
      add_prober(e.node, e.service + ".service.consul", Duration::milliseconds(100), false);
    }
    if (e.kind == FileExpectation::Kind::kCrossDc) add_prober(e.node, e.name, e.every, true);
  }
  master_ = sf_.initial_master;
  set_outcomes();
  for (const auto& n : sf_.nodes) wan_ = wan_ || !n.retry_join_wan.empty();
  for (const auto& n : sf_.nodes) wan_servers_ += n.server ? 1 : 0;
  world_.on_reply([this](const ClientReply& reply) {
    auto it = waiting_.find(reply.id);
    if (it == waiting_.end()) return;
    auto done = std::move(it->second);
    waiting_.erase(it);
    done(reply);
  });
  schedule_actions();
  for (const auto& spec : sf_.kv) {
    KvClient client;
    client.spec = spec;
    client.datacenter = dc_of(spec.node);
    clients_.push_back(std::move(client));
    const std::size_t c = clients_.size() - 1;
    world_.schedule(Instant::zero() + spec.from + rng_.between(Duration::zero(), spec.every),
                    "kv start " + spec.node, [this, c](World&) { kv_tick(c); });
  }
  note(fmt::format("start: {} nodes in {}, {} DNS probers, {} KV clients, master {}",
                   sf_.nodes.size(), fmt::join(sf_.datacenters(), "+"), probes_.size(),
                   clients_.size(), master_.empty() ? "none" : master_));

  world_.run_until([this] { return observe(); }, end_);
  if (!capped_) {
    // The end: heal what the timeline left broken, then read every key back.
    note("end of the timeline: heal, restart every node that is down, read every key");
    world_.network().heal();
    LinkConfig link = world_.network().default_link();
    link.loss = 0;
    world_.network().set_default_link(link);
    for (const auto& n : sf_.nodes) {
      if (!world_.is_up(n.name)) world_.restart(n.name);
    }
    final_reads();
  }
  if (!partitions_.empty() && partitions_.back().to == Instant::never()) {
    partitions_.back().to = end_;
  }
  if (capped_) {
    fail(fmt::format("step cap {} reached at {}: expectations not checked", options_.max_steps,
                     world_.now()));
  } else {
    evaluate();
  }
  for (const auto& v : world_.violations()) fail("host: " + v);

  std::size_t ok = 0, failed = 0, unknown = 0;
  for (std::size_t i = 0; i < history_.size(); ++i) {
    if (meta_[i].final_read) continue;
    if (history_[i].outcome == KvOp::Outcome::kOk) ++ok;
    if (history_[i].outcome == KvOp::Outcome::kFail) ++failed;
    if (history_[i].outcome == KvOp::Outcome::kUnknown) ++unknown;
  }
  std::size_t queries = 0, served = 0;
  for (const auto& p : probes_) {
    for (const auto& r : p->records) {
      ++queries;
      if (r.served()) ++served;
    }
  }
  ScenarioResult& r = result_.result;
  r.pass = r.failures.empty();
  r.steps = world_.events_processed();
  r.end = world_.now();
  r.trace_hash = world_.trace_hash();
  r.faults = fmt::format("{} timeline actions", sf_.actions.size());
  r.summary = fmt::format("kv ok={} fail={} unknown={} dns queries={} served={}", ok, failed,
                          unknown, queries, served);
  return std::move(result_);
}

}  // namespace

std::vector<std::string> check_no_lost_writes(const std::vector<KvOp>& history,
                                              const std::map<std::string, FinalRead>& finals,
                                              std::size_t& acknowledged) {
  std::vector<std::string> out;
  for (const auto& [key, end_read] : finals) {
    const std::optional<std::string>& value = end_read.value;
    const KvOp* source = nullptr;  // the write whose value is there
    for (const auto& op : history) {
      if (op.key == key && op.kind == KvOp::Kind::kPut && value && op.value == *value) source = &op;
    }
    if (value && source == nullptr) {
      out.push_back(
          fmt::format("no-lost-writes: {} holds {:?}, which no client wrote", key, *value));
      continue;
    }
    const Instant source_ret =
        source != nullptr && source->outcome == KvOp::Outcome::kOk ? source->ret : Instant::never();
    for (const auto& op : history) {
      if (op.key != key || op.kind != KvOp::Kind::kPut || op.outcome != KvOp::Outcome::kOk) {
        continue;
      }
      ++acknowledged;
      // A write still in flight when the final read began may be ordered after it.
      if (op.ret >= end_read.call) continue;
      // Lost: acknowledged, and either nothing is there or what is there was written by a write
      // that was acknowledged before this one began.
      const bool lost = !value || (source_ret != Instant::never() && source_ret < op.call);
      if (lost) {
        out.push_back(
            fmt::format("no-lost-writes: acknowledged PUT {}={} ({}..{}) is lost: the key ends {}",
                        key, op.value, op.call, op.ret,
                        value ? fmt::format("with {} (acknowledged at {})", *value, source_ret)
                              : std::string("absent")));
        break;
      }
    }
  }
  return out;
}

FileRunResult run_scenario_file(const ScenarioFile& scenario, const ScenarioOptions& options,
                                bool keep_timeline) {
  Run run(scenario, options, keep_timeline);
  return run.run();
}

}  // namespace praetor::sim
