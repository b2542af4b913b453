// Sessions, locks and transactions in the simulator (issue 11).
//
// LocksUnderFaults: three servers under the fault swarm of raft_cluster_faults_test (partitions,
// clogs, crashes losing unsynced writes, loss/duplication/reordering, clock offset and drift,
// late timers). Simulated clients each create a TTL session (TTL 10 s, LockDelay 2 s, no checks),
// renew it, and loop: ?acquire one key, confirm with a ?consistent read that the key names their
// session, "work", then ?release -- or abandon the session while holding (stop renewing), or
// destroy it while holding. Checked:
//   (a) after every simulator event, on every server: the key's Session is a session that server
//       has; one applied index shows one (LockIndex, Session) on every server, and LockIndex never
//       decreases along the committed history;
//   (b) fencing: confirmed holders with the same LockIndex are the same session, and a confirmed
//       LockIndex is >= every LockIndex confirmed before it (> when the session differs);
//   (c) TTL: a leader proposes destroying a session that nobody asked to destroy no earlier than
//       2 x TTL after it became leader, after the session's create was proposed, and (less a
//       stale-leader allowance) after the client's last successful renew was sent; once the
//       faults heal and the clients stop, every session is gone within 2 x TTL (+ slack) of the
//       later of its last renew and the final leader's election;
//   (d) lock-delay: a leader never proposes a lock of the key for another session before the
//       LockDelay has passed, on its own clock, since it applied the invalidation (TTL expiry or
//       destroy) of the session that held it. What is not asserted, and why: a leader that
//       restarted, or that learned the invalidation from an installed snapshot, does not know the
//       delay (D29; Consul is the same), and a lock proposed before the leader applied the
//       invalidation (both in flight at once) is not delayed (Consul checks at the RPC too).
//
// TxnLinearizable: the same swarm; clients drive /v1/txn with set, cas, get, check-index, delete,
// delete-cas on single keys and, on two token keys, atomic reads of both and moves of the token
// from one to the other with a cas on each. The history is checked linearizable against a model
// of the whole key space (sim::check_txn_linearizable), 409 answers included (their failing ops
// must match the model's), and every read of both token keys shows exactly one token.
//
// GossipInvalidation: three servers and two client agents over gossip; c1 holds two keys with
// two sessions (default checks: serfHealth), one behavior release and one delete. c1 crashes:
// within memberlist's failure-detection bound plus a reconcile the first key's Session is cleared
// and the second key is deleted; c2, trying all along, takes neither before the LockDelay has
// passed on the proposing leader's clock, and takes the first soon after it.
//
// PRAETOR_SEED=N runs one seed; PRAETOR_SEEDS=N sets how many (scripts/sweep.sh runs more);
// PRAETOR_TRACE=1 echoes the simulator trace.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/base/bytes.hpp"
#include "core/catalog/command.hpp"
#include "core/node/agent.hpp"
#include "sim/checkers.hpp"
#include "sim/faults.hpp"
#include "sim/world.hpp"
#include "tests/support/sim_servers.hpp"

namespace praetor {
namespace {

using node::Agent;
using Json = nlohmann::json;

constexpr Duration kTtl = Duration::seconds(10);
constexpr Duration kLockDelay = Duration::seconds(2);
constexpr int kServers = 3;

node::AgentConfig server_config(int n, int servers) {
  return testing::sim_server_config(n, servers);
}

node::HttpRequest request(std::string method, std::string path, std::string body = {}) {
  node::HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  return r;
}

std::uint64_t seed_count(std::uint64_t fallback) {
  if (const char* n = std::getenv("PRAETOR_SEEDS")) return std::strtoull(n, nullptr, 10);
  return fallback;
}

// Runs seeds 1..N (or PRAETOR_SEED alone), stopping after three failures; each failure names
// the seed, the plan and the replay command.
template <typename Run>
void run_seeds(std::uint64_t fallback, const char* test) {
  std::uint64_t first = 1;
  std::uint64_t count = seed_count(fallback);
  if (const char* one = std::getenv("PRAETOR_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  }
  int failures = 0;
  std::string totals;
  for (std::uint64_t seed = first; seed < first + count && failures < 3; ++seed) {
    Run run(seed);
    const std::string failure = run.run();
    run.tally(totals);
    if (!failure.empty()) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": " << failure << "\nplan: " << run.plan()
                    << "\nreplay: PRAETOR_SEED=" << seed
                    << " PRAETOR_TRACE=1 build/debug/tests/cluster/session_sim_test "
                       "--gtest_filter=*."
                    << test;
    }
  }
  std::printf("%s: %s\n", test, totals.c_str());
}

// ---------------------------------------------------------------------------------------------
// ServerWatch: looks at every server after each simulator event.
//
// - Proposals: a leader's entries of its own term are its proposals, so the entries of the
//   current term past those already seen were proposed during this event, at this moment of the
//   leader's clock (exact, since it runs after every event). Each is decoded and handed to
//   on_proposal, with when the server became leader in that term.
// - Lock-delay oracle, independent of the Fsm's side map: when a server's applied state shows a
//   key that a session held no longer held by it, the session gone, and the key changed at the
//   index that removed the session (so by the invalidation, not by a release before it), the
//   server applied the invalidation now: the key is delayed on that server until now +
//   kLockDelay (its clock). Not recorded: a change that arrived by an installed snapshot (the
//   server never applied it, and Fsm keeps no delay for it: D29), and anything before a restart.
//   A leader's lock proposal for another session before that moment is a failure.
// - Holders: a key's Session is always a session the same server has.
class ServerWatch {
 public:
  struct Proposal {
    std::string server;
    Instant local;         // the leader's clock
    Instant leader_since;  // the leader's clock when it became leader in this term
    std::uint64_t index = 0;
    catalog::Command command;
  };

  ServerWatch(sim::World& world, std::vector<std::string> servers, std::vector<std::string> keys)
      : world_(world), servers_(std::move(servers)), keys_(std::move(keys)) {}

  std::function<void(const Proposal&)> on_proposal;
  std::function<void(const std::string& server, const catalog::Fsm&)> on_state;

  const std::string& failure() const { return failure_; }
  std::uint64_t delayed_lock_checks() const { return delayed_lock_checks_; }
  std::uint64_t invalidations_seen() const { return invalidations_seen_; }

  Instant local(const std::string& server) const {
    return world_.clock(server).local(world_.now());
  }

  void observe() {
    for (const auto& name : servers_) observe_one(name);
  }

  void fail(std::string what) {
    if (failure_.empty()) failure_ = fmt::format("at {}: {}", world_.now(), what);
  }

 private:
  struct PerServer {
    std::uint64_t incarnation = ~std::uint64_t{0};
    std::uint64_t term = 0;
    std::uint64_t scanned = 0;  // highest index of `term` already handed on
    Instant leader_since;
    std::uint64_t applied = 0;
    std::map<std::string, std::string> holder;
    std::map<std::string, std::pair<Instant, std::string>> delayed;  // key -> (until, session)
  };

  void observe_one(const std::string& name) {
    Agent* a = world_.process_as<Agent>(name);
    if (a == nullptr) return;
    PerServer& ps = per_server_[name];
    if (ps.incarnation != world_.incarnation(name)) {
      ps = PerServer{};
      ps.incarnation = world_.incarnation(name);
    }
    const Instant now = local(name);
    const catalog::Fsm& fsm = a->fsm();
    const std::uint64_t applied = fsm.applied_index().value();
    const raft::Raft* raft = a->raft();
    const bool by_snapshot = raft != nullptr && raft->log().snapshot().index.value() > ps.applied &&
                             applied > ps.applied;
    for (const auto& key : keys_) {
      const catalog::KvEntry* e = fsm.kv().get(key);
      const std::string session = e != nullptr ? e->session : "";
      if (!session.empty() && fsm.sessions().get(session) == nullptr) {
        fail(fmt::format("{} shows key {} held by session {}, which it does not have", name, key,
                         session));
      }
      const std::string& before = ps.holder[key];
      if (!before.empty() && session != before && fsm.sessions().get(before) == nullptr &&
          !by_snapshot) {
        const std::uint64_t changed_at = e != nullptr ? e->modify_index : fsm.kv().index();
        if (changed_at == fsm.sessions().index()) {
          ps.delayed[key] = {now + kLockDelay, before};
          ++invalidations_seen_;
        }
      }
      ps.holder[key] = session;
    }
    ps.applied = applied;
    if (on_state) on_state(name, fsm);
    if (raft == nullptr || a->raft_role() != raft::Role::kLeader) return;
    const std::uint64_t term = a->raft_term().value();
    if (ps.term != term) {
      ps.term = term;
      ps.scanned = 0;
      ps.leader_since = now;
    }
    const raft::RaftLog& log = raft->log();
    std::uint64_t from = log.last_index().value();
    while (from >= log.first_index().value() && from > ps.scanned &&
           log.term_at(LogIndex(from)) == Term(term)) {
      --from;
    }
    for (std::uint64_t i = from + 1; i <= log.last_index().value(); ++i) {
      const raft::Entry& entry = log.at(LogIndex(i));
      if (entry.type != raft::EntryType::kNormal) continue;
      auto command = catalog::decode_command(entry.data);
      if (!command) {
        fail(fmt::format("{} proposed an entry that does not decode at {}", name, i));
        continue;
      }
      Proposal p{name, now, ps.leader_since, i, std::move(*command)};
      check_lock_delay(ps, p);
      if (on_proposal) on_proposal(p);
    }
    ps.scanned = std::max(ps.scanned, log.last_index().value());
  }

  void check_lock_delay(const PerServer& ps, const Proposal& p) {
    auto check = [&](const std::string& key, const std::string& session) {
      auto it = ps.delayed.find(key);
      if (it == ps.delayed.end() || it->second.second == session) return;
      ++delayed_lock_checks_;
      if (p.local < it->second.first) {
        fail(fmt::format(
            "leader {} proposed a lock of {} for session {} at {} (its clock), {} before the "
            "lock-delay of invalidated session {} ended at {}",
            p.server, key, session, p.local, it->second.first - p.local, it->second.second,
            it->second.first));
      }
    };
    if (const auto* lock = std::get_if<catalog::KvLock>(&p.command))
      check(lock->key, lock->session);
    if (const auto* txn = std::get_if<catalog::Txn>(&p.command)) {
      for (const auto& op : txn->ops) {
        if (op.verb == catalog::TxnVerb::kLock) check(op.key, op.session);
      }
    }
  }

  sim::World& world_;
  std::vector<std::string> servers_;
  std::vector<std::string> keys_;
  std::map<std::string, PerServer> per_server_;
  std::string failure_;
  std::uint64_t delayed_lock_checks_ = 0;
  std::uint64_t invalidations_seen_ = 0;
};

// Common to the runs over three servers under the fault swarm.
class SwarmRun {
 public:
  SwarmRun(std::uint64_t seed, std::uint64_t salt) : world_(seed), rng_(seed ^ salt) {
    if (std::getenv("PRAETOR_TRACE") != nullptr) world_.trace().set_echo(stderr);
    for (int n = 1; n <= kServers; ++n) {
      sim::NodeOptions options;
      options.name = fmt::format("s{}", n);
      options.addresses = {fmt::format("127.0.0.{}", n + 1)};
      names_.push_back(options.name);
      world_.add_process(options,
                         [n] { return std::make_unique<Agent>(server_config(n, kServers)); });
    }
  }

  const std::string& plan() const { return plan_; }

 protected:
  void install(Instant from, Instant heal_at) {
    Rng plan_rng = rng_.fork();
    const sim::FaultPlan plan = sim::plan_faults(plan_rng, sim::FaultProfile{});
    plan_ = plan.describe();
    sim::install_faults(world_, plan, rng_.fork(), from, heal_at);
  }

  std::string leader_name() {
    for (const auto& name : names_) {
      Agent* a = world_.process_as<Agent>(name);
      if (a != nullptr && a->raft_role() == raft::Role::kLeader) return name;
    }
    return "";
  }

  const std::string& any_server() { return names_[rng_.uniform(names_.size())]; }

  Duration ms(std::uint64_t low, std::uint64_t high) {
    return Duration::milliseconds(static_cast<std::int64_t>(low + rng_.uniform(high - low + 1)));
  }

  void fail(std::string what) {
    if (failure_.empty()) failure_ = fmt::format("at {}: {}", world_.now(), what);
  }

  sim::World world_;
  Rng rng_;
  std::vector<std::string> names_;
  std::string plan_;
  std::string failure_;
};

// ---------------------------------------------------------------------------------------------
// Locks under the fault swarm.

constexpr std::string_view kLockKey = "locks/leader";
constexpr int kLockClients = 4;
const Instant kFaultsFrom = Instant::zero() + Duration::seconds(1);
const Instant kHealAt = Instant::zero() + Duration::seconds(35);
const Instant kClientsStop = Instant::zero() + Duration::seconds(45);
// A renew answered by a leader that was already deposed (it steps down within an election
// timeout without a quorum, CheckQuorum) restarts a timer the real leader does not have; the real
// leader's own timer started when it was elected, at most about an election timeout (1 s) plus a
// late timer (0.2 s) before that. Clock drift (<= 500 ppm) adds under 20 ms over 2 x TTL.
constexpr Duration kStaleLeaderAllowance = Duration::milliseconds(2500);
constexpr Duration kDrift = Duration::milliseconds(30);
// After the last leader's election or the last renew: client latency (<= 0.5 s), a late timer
// (<= 0.2 s) and a commit round.
constexpr Duration kExpirySlack = Duration::seconds(2);

class LockRun : public SwarmRun {
 public:
  explicit LockRun(std::uint64_t seed)
      : SwarmRun(seed, 0x10cc10ccULL), watch_(world_, names_, {std::string(kLockKey)}) {
    clients_.resize(kLockClients);
  }

  void tally(std::string& totals) {
    static Totals sum;  // over the seeds of this process
    sum.confirmed += confirmations_.size();
    sum.expired += expired_;
    sum.delay_checks += watch_.delayed_lock_checks();
    sum.invalidations += watch_.invalidations_seen();
    totals = fmt::format(
        "{} confirmed holds, {} sessions expired by TTL, {} invalidations applied, {} lock "
        "proposals checked against a lock-delay",
        sum.confirmed, sum.expired, sum.invalidations, sum.delay_checks);
  }

  std::string run() {
    install(kFaultsFrom, kHealAt);
    watch_.on_proposal = [this](const ServerWatch::Proposal& p) { on_proposal(p); };
    watch_.on_state = [this](const std::string& server, const catalog::Fsm& fsm) {
      on_state(server, fsm);
    };
    world_.on_reply([this](const sim::ClientReply& r) { on_reply(r); });
    world_.run_until([this] { return !leader_name().empty(); },
                     Instant::zero() + Duration::seconds(10));
    for (int c = 0; c < kLockClients; ++c) {
      world_.schedule(world_.now() + ms(0, 500), "client", [this, c](sim::World&) { create(c); });
    }
    // Until the clients stop and every session they left is gone (or a failure).
    const Instant end = kClientsStop + kTtl * 2 + Duration::seconds(15);
    world_.run_until(
        [this] {
          watch_.observe();
          track_leader();
          return !watch_.failure().empty() || !failure_.empty();
        },
        end);
    if (!watch_.failure().empty()) return watch_.failure();
    if (!failure_.empty()) return failure_;
    check_fencing();
    if (!failure_.empty()) return failure_;
    check_expiry_bounds();
    if (!failure_.empty()) return failure_;
    if (!world_.violations().empty()) return "world violation: " + world_.violations().front();
    return "";
  }

 private:
  struct Totals {
    std::uint64_t confirmed = 0, expired = 0, delay_checks = 0, invalidations = 0;
  };
  enum class Kind { kCreate, kRenew, kAcquire, kConfirm, kRelease, kDestroy };
  struct Pending {
    Kind kind;
    int client = 0;
    std::string session;
    Instant sent;
  };
  struct Client {
    std::string session;  // empty: none
    int holds = 0;
    std::uint64_t generation = 0;  // bumps when the session changes, to stop old renew loops
  };
  // What the test knows of a session, from the clients and from the servers.
  struct SessionFacts {
    std::optional<Instant> create_proposed;  // the first leader proposal (global time)
    std::optional<Instant> last_ok_renew;    // the send time of the last renew answered 200
    std::optional<Instant> last_renew;       // the send time of the last renew sent at all
    bool destroy_requested = false;
    std::uint64_t create_index = 0;  // 0: never seen applied
    std::optional<Instant> gone;     // first seen destroyed on a server that had it
  };
  struct Confirmation {
    int client;
    std::string session;
    std::uint64_t lock_index;
    Instant call, ret;
  };

  void send(int c, Kind kind, node::HttpRequest r, std::string session = {}) {
    const RequestId id = world_.submit(any_server(), std::move(r));
    pending_[id] = Pending{kind, c, std::move(session), world_.now()};
  }
  void later(Duration d, std::function<void()> f) {
    if (world_.now() + d >= kClientsStop) return;  // the clients stop: no new requests
    world_.schedule(world_.now() + d, "client", [f = std::move(f)](sim::World&) { f(); });
  }

  void create(int c) {
    if (world_.now() >= kClientsStop) return;
    const std::string body = fmt::format(
        R"({{"Name":"c{}","TTL":"10s","LockDelay":"2s","Checks":[],"Behavior":"release"}})", c);
    send(c, Kind::kCreate, request("PUT", "/v1/session/create", body));
  }

  void renew_loop(int c, std::uint64_t generation) {
    Client& cl = clients_[static_cast<std::size_t>(c)];
    if (cl.generation != generation || cl.session.empty()) return;
    sessions_[cl.session].last_renew = world_.now();
    send(c, Kind::kRenew, request("PUT", "/v1/session/renew/" + cl.session), cl.session);
    later(ms(2000, 4000), [this, c, generation] { renew_loop(c, generation); });
  }

  void acquire(int c) {
    Client& cl = clients_[static_cast<std::size_t>(c)];
    if (cl.session.empty()) return;
    node::HttpRequest r = request("PUT", std::string("/v1/kv/") + std::string(kLockKey),
                                  fmt::format("c{}-{}", c, ++cl.holds));
    r.query = {{"acquire", cl.session}};
    send(c, Kind::kAcquire, std::move(r), cl.session);
  }

  void confirm(int c) {
    Client& cl = clients_[static_cast<std::size_t>(c)];
    node::HttpRequest r = request("GET", std::string("/v1/kv/") + std::string(kLockKey));
    r.query = {{"consistent", ""}};
    send(c, Kind::kConfirm, std::move(r), cl.session);
  }

  // Done "working": release (most often), or abandon the session while holding (the client
  // dies: the TTL must end it), or destroy it while holding.
  void finish_work(int c) {
    Client& cl = clients_[static_cast<std::size_t>(c)];
    if (cl.session.empty()) return;
    const std::uint64_t roll = rng_.uniform(20);
    if (roll < 3) {
      drop_session(c);
      later(ms(500, 3000), [this, c] { create(c); });
    } else if (roll < 6) {
      sessions_[cl.session].destroy_requested = true;
      send(c, Kind::kDestroy, request("PUT", "/v1/session/destroy/" + cl.session), cl.session);
      drop_session(c);
    } else {
      node::HttpRequest r = request("PUT", std::string("/v1/kv/") + std::string(kLockKey),
                                    fmt::format("c{}-released", c));
      r.query = {{"release", cl.session}};
      send(c, Kind::kRelease, std::move(r), cl.session);
    }
  }

  void drop_session(int c) {
    Client& cl = clients_[static_cast<std::size_t>(c)];
    cl.session.clear();
    ++cl.generation;
  }

  void on_reply(const sim::ClientReply& reply) {
    auto it = pending_.find(reply.id);
    if (it == pending_.end()) return;
    const Pending p = it->second;
    pending_.erase(it);
    const bool answered = reply.status == sim::ClientReply::Status::kAnswered;
    const int status = answered ? reply.response.status : 0;
    const std::string& body = reply.response.body;
    Client& cl = clients_[static_cast<std::size_t>(p.client)];
    const bool current = !p.session.empty() && p.session == cl.session;
    switch (p.kind) {
      case Kind::kCreate: {
        if (status == 200) {
          const Json j = Json::parse(body, nullptr, false);
          if (!j.is_object() || !j.contains("ID") || !j["ID"].is_string()) {
            fail("session create answered " + body);
            return;
          }
          cl.session = j["ID"].get<std::string>();
          ++cl.generation;
          sessions_[cl.session].last_ok_renew = p.sent;  // the create starts the timer too
          later(ms(2000, 4000), [this, c = p.client, g = cl.generation] { renew_loop(c, g); });
          later(ms(0, 200), [this, c = p.client] { acquire(c); });
        } else {
          later(ms(300, 1000), [this, c = p.client] { create(c); });
        }
        return;
      }
      case Kind::kRenew:
        if (status == 200) {
          auto& f = sessions_[p.session];
          if (!f.last_ok_renew || *f.last_ok_renew < p.sent) f.last_ok_renew = p.sent;
        } else if (status == 404 && current) {
          // The leader does not have it (expired, or a new leader that has not applied its
          // create yet): the client gives it up, as python-consul's users do.
          drop_session(p.client);
          later(ms(200, 1000), [this, c = p.client] { create(c); });
        }
        return;
      case Kind::kAcquire:
        if (!current) return;
        if (status == 200 && body == "true") {
          later(Duration::zero(), [this, c = p.client] { confirm(c); });
        } else if (status == 500 && body.find("invalid session") != std::string::npos) {
          drop_session(p.client);
          later(ms(200, 1000), [this, c = p.client] { create(c); });
        } else {
          later(ms(50, 300), [this, c = p.client] { acquire(c); });
        }
        return;
      case Kind::kConfirm: {
        if (!current) return;
        if (status != 200) {
          if (status == 404 || !answered || status >= 500) {
            later(ms(50, 300), [this, c = p.client] {
              if (status_ok(c)) confirm(c);
            });
          }
          return;
        }
        const Json j = Json::parse(body, nullptr, false);
        if (!j.is_array() || j.size() != 1 || !j[0].is_object() || !j[0].contains("LockIndex")) {
          fail("a ?consistent read of the lock answered " + body);
          return;
        }
        const std::string holder = j[0].value("Session", "");
        if (holder == p.session) {
          confirmations_.push_back(Confirmation{
              p.client, p.session, j[0]["LockIndex"].get<std::uint64_t>(), p.sent, reply.answered});
          later(ms(100, 800), [this, c = p.client] { finish_work(c); });
        } else {
          // Lost between the acquire and the read (the session expired): contend again.
          later(ms(50, 300), [this, c = p.client] { acquire(c); });
        }
        return;
      }
      case Kind::kRelease:
        if (!current) return;
        later(ms(50, 500), [this, c = p.client] { acquire(c); });
        return;
      case Kind::kDestroy:
        later(ms(200, 1000), [this, c = p.client] { create(c); });
        return;
    }
  }

  bool status_ok(int c) const { return !clients_[static_cast<std::size_t>(c)].session.empty(); }

  void on_proposal(const ServerWatch::Proposal& p) {
    const Instant global = world_.now();
    if (const auto* create = std::get_if<catalog::SessionCreate>(&p.command)) {
      auto& f = sessions_[create->session.id];
      if (!f.create_proposed) f.create_proposed = global;
      return;
    }
    const auto* destroy = std::get_if<catalog::SessionDestroy>(&p.command);
    if (destroy == nullptr) return;
    auto& f = sessions_[destroy->id];
    if (f.destroy_requested) return;
    // A destroy nobody asked for is a TTL expiry: 2 x TTL after the leader's election (its
    // clock: exact), after the create was proposed, and after the last renew it answered.
    if (p.local < p.leader_since + kTtl * 2) {
      watch_.fail(
          fmt::format("leader {} expired session {} at {} (its clock), {} after it "
                      "became leader: a new leader grants 2 x TTL = {}",
                      p.server, destroy->id, p.local, p.local - p.leader_since, kTtl * 2));
    }
    if (f.create_proposed && global + kDrift < *f.create_proposed + kTtl * 2) {
      watch_.fail(fmt::format("session {} expired {} after its create was proposed (TTL {})",
                              destroy->id, global - *f.create_proposed, kTtl));
    }
    if (f.last_ok_renew && global + kStaleLeaderAllowance < *f.last_ok_renew + kTtl * 2) {
      watch_.fail(fmt::format(
          "session {} expired {} after a renew sent at {} was answered 200 (TTL {}, expiry "
          "allowed from 2 x TTL less {} for a deposed leader's answer)",
          destroy->id, global - *f.last_ok_renew, *f.last_ok_renew, kTtl, kStaleLeaderAllowance));
    }
  }

  void on_state(const std::string& server, const catalog::Fsm& fsm) {
    // Sessions seen applied, and the first moment one is seen gone on a server that had
    // applied its create.
    for (const auto& [id, entry] : fsm.sessions().all()) {
      auto& f = sessions_[id];
      if (f.create_index == 0) f.create_index = entry.create_index;
    }
    for (auto& [id, f] : sessions_) {
      if (f.create_index == 0 || f.gone) continue;
      if (fsm.applied_index().value() >= f.create_index && fsm.sessions().get(id) == nullptr) {
        f.gone = world_.now();
        if (!f.destroy_requested) ++expired_;
      }
    }
    // The committed history of the lock: one (LockIndex, Session) per applied index, and
    // LockIndex never decreasing along it (the key is never deleted here).
    const catalog::KvEntry* e = fsm.kv().get(std::string(kLockKey));
    const std::uint64_t applied = fsm.applied_index().value();
    const std::pair<std::uint64_t, std::string> seen{e ? e->lock_index : 0, e ? e->session : ""};
    auto [at, fresh] = history_.emplace(applied, seen);
    if (!fresh && at->second != seen) {
      watch_.fail(fmt::format(
          "applied index {}: {} shows LockIndex {} session '{}', another "
          "server showed LockIndex {} session '{}'",
          applied, server, seen.first, seen.second, at->second.first, at->second.second));
      return;
    }
    if (at != history_.begin() && std::prev(at)->second.first > seen.first) {
      watch_.fail(fmt::format("LockIndex went back along the log: {} at index {}, {} at {} ({})",
                              std::prev(at)->second.first, std::prev(at)->first, seen.first,
                              applied, server));
    }
    if (std::next(at) != history_.end() && std::next(at)->second.first < seen.first) {
      watch_.fail(fmt::format("LockIndex went back along the log: {} at index {}, {} at {} ({})",
                              seen.first, applied, std::next(at)->second.first,
                              std::next(at)->first, server));
    }
  }

  void track_leader() {
    const std::string now_leader = leader_name();
    if (!now_leader.empty()) {
      const Agent* a = world_.process_as<Agent>(now_leader);
      const auto key = std::make_pair(now_leader, a->raft_term().value());
      if (key != last_leader_) {
        last_leader_ = key;
        last_election_ = world_.now();
      }
    }
  }

  void check_fencing() {
    std::map<std::uint64_t, const Confirmation*> by_index;
    for (const auto& c : confirmations_) {
      auto [it, fresh] = by_index.emplace(c.lock_index, &c);
      if (!fresh && it->second->session != c.session) {
        fail(
            fmt::format("LockIndex {} confirmed for two sessions: {} (client {}, read {}..{}) and "
                        "{} (client {}, read {}..{})",
                        c.lock_index, it->second->session, it->second->client, it->second->call,
                        it->second->ret, c.session, c.client, c.call, c.ret));
        return;
      }
    }
    for (const auto& a : confirmations_) {
      for (const auto& b : confirmations_) {
        if (!(a.ret < b.call)) continue;
        if (b.lock_index < a.lock_index ||
            (b.lock_index == a.lock_index && b.session != a.session)) {
          fail(fmt::format(
              "fencing: session {} was confirmed holder with LockIndex {} (read "
              "{}..{}) after session {} was confirmed with LockIndex {} (read "
              "{}..{})",
              b.session, b.lock_index, b.call, b.ret, a.session, a.lock_index, a.call, a.ret));
          return;
        }
      }
    }
  }

  void check_expiry_bounds() {
    // Every session still in any server's state at the end is a failure: the clients stopped
    // renewing at kClientsStop.
    for (const auto& name : names_) {
      const Agent* a = world_.process_as<Agent>(name);
      if (a == nullptr) continue;
      for (const auto& [id, e] : a->fsm().sessions().all()) {
        fail(
            fmt::format("session {} is still on {} at the end ({}), {} after the clients "
                        "stopped renewing; the last leader was elected at {}",
                        id, name, world_.now(), world_.now() - kClientsStop, last_election_));
        return;
      }
    }
    for (const auto& [id, f] : sessions_) {
      if (f.create_index == 0 || !f.gone || f.destroy_requested) continue;
      if (*f.gone < kHealAt) continue;  // under faults: no upper bound
      Instant from = last_election_;
      if (f.last_renew && *f.last_renew > from) from = *f.last_renew;
      if (f.create_proposed && *f.create_proposed > from) from = *f.create_proposed;
      if (*f.gone > from + kTtl * 2 + kExpirySlack) {
        fail(fmt::format(
            "session {} was destroyed at {}, {} after the later of its last renew "
            "({}), its create and the last election ({}): more than 2 x TTL + {}",
            id, *f.gone, *f.gone - from, f.last_renew ? fmt::format("{}", *f.last_renew) : "none",
            last_election_, kExpirySlack));
        return;
      }
    }
  }

  ServerWatch watch_;
  std::vector<Client> clients_;
  std::map<RequestId, Pending> pending_;
  std::map<std::string, SessionFacts> sessions_;
  std::vector<Confirmation> confirmations_;
  std::map<std::uint64_t, std::pair<std::uint64_t, std::string>> history_;
  std::pair<std::string, std::uint64_t> last_leader_;
  Instant last_election_;
  std::uint64_t expired_ = 0;
};

TEST(SessionSim, LocksUnderFaults) { run_seeds<LockRun>(50, "LocksUnderFaults"); }

// ---------------------------------------------------------------------------------------------
// Transactions under the fault swarm.

constexpr std::string_view kTokenA = "txn/a";
constexpr std::string_view kTokenB = "txn/b";
const std::vector<std::string> kRegisters = {"txn/c", "txn/d"};
constexpr int kTxnClients = 4;
constexpr std::size_t kTxnOps = 240;
const Instant kTxnHealAt = Instant::zero() + Duration::seconds(20);

bool is_token(const std::optional<std::string>& v) { return v && v->starts_with("tok-"); }

class TxnRun : public SwarmRun {
 public:
  explicit TxnRun(std::uint64_t seed) : SwarmRun(seed, 0x7a7a7a7aULL) {
    clients_.resize(kTxnClients);
  }

  std::uint64_t trace_hash() const { return world_.trace_hash(); }

  void tally(std::string& totals) {
    static std::uint64_t ok = 0, conflict = 0, unknown = 0, moves = 0, seeds = 0;
    ++seeds;
    for (const auto& t : history_) {
      if (t.ops.empty()) continue;  // refused before proposing
      if (t.outcome == sim::KvTxn::Outcome::kOk) ++ok;
      if (t.outcome == sim::KvTxn::Outcome::kConflict) ++conflict;
      if (t.outcome == sim::KvTxn::Outcome::kUnknown) ++unknown;
    }
    moves += moves_;
    totals = fmt::format("{} seeds: {} txns ok, {} answered 409, {} unknown; {} token moves ok",
                         seeds, ok, conflict, unknown, moves);
  }

  std::string run() {
    install(kFaultsFrom, kTxnHealAt);
    world_.on_reply([this](const sim::ClientReply& r) { on_reply(r); });
    world_.run_until([this] { return !leader_name().empty(); },
                     Instant::zero() + Duration::seconds(10));
    // The token starts on A (retried until it is known to be written; every attempt is in the
    // history with its own values, so an attempt that lands late is still accounted for).
    init();
    world_.run_until([this] { return !failure_.empty() || done(); },
                     kTxnHealAt + Duration::seconds(300));
    if (!failure_.empty()) return failure_;
    if (!done())
      return fmt::format("the workload did not finish: {} of {} issued", issued_, kTxnOps);
    // After healing: a last read of both token keys must show one token.
    final_read_ = true;
    final_read();
    world_.run_until([this] { return !failure_.empty() || final_seen_; },
                     world_.now() + Duration::seconds(60));
    if (!failure_.empty()) return failure_;
    if (!final_seen_) return "no read of the token keys answered after healing";
    const sim::CheckResult lin = sim::check_txn_linearizable(history_);
    if (!lin.ok) {
      return fmt::format("txn history not linearizable ({}): {}",
                         lin.exhausted ? "search exhausted" : "violation", lin.detail);
    }
    if (!world_.violations().empty()) return "world violation: " + world_.violations().front();
    return "";
  }

 private:
  struct Known {
    std::optional<std::string> value;
    std::uint64_t index = 0;  // ModifyIndex; 0 with an absent value
  };
  struct Client {
    std::map<std::string, Known> known;
  };
  struct Pending {
    int client = -1;  // -1: the initial write or the final read
    std::size_t op = 0;
  };

  bool done() const { return started_ && issued_ >= kTxnOps && outstanding_ == 0; }

  std::string fresh(std::string_view prefix) { return fmt::format("{}{}", prefix, next_value_++); }

  static Json to_json(const sim::TxnSubOp& op, std::uint64_t index) {
    static constexpr const char* kVerbs[] = {"set",         "cas",    "get",
                                             "check-index", "delete", "delete-cas"};
    Json kv = {{"Verb", kVerbs[static_cast<int>(op.verb)]}, {"Key", op.key}};
    if (op.verb == sim::TxnSubOp::Verb::kSet || op.verb == sim::TxnSubOp::Verb::kCas) {
      kv["Value"] = base64_encode(to_bytes(op.value));
    }
    if (op.verb == sim::TxnSubOp::Verb::kCas || op.verb == sim::TxnSubOp::Verb::kCheckIndex ||
        op.verb == sim::TxnSubOp::Verb::kDeleteCas) {
      kv["Index"] = index;
    }
    return Json{{"KV", kv}};
  }

  // Sends ops (indexes: the ModifyIndex sent with each) as one transaction.
  void send(int client, std::vector<sim::TxnSubOp> ops, std::vector<std::uint64_t> indexes,
            Duration delay = Duration::zero()) {
    Json body = Json::array();
    for (std::size_t i = 0; i < ops.size(); ++i) body.push_back(to_json(ops[i], indexes[i]));
    sim::KvTxn txn;
    txn.client = static_cast<std::uint64_t>(client < 0 ? kTxnClients : client);
    txn.ops = std::move(ops);
    history_.push_back(std::move(txn));
    const std::size_t at = history_.size() - 1;
    const RequestId id = world_.submit(any_server(), request("PUT", "/v1/txn", body.dump()), delay);
    pending_[id] = Pending{client, at};
    ++outstanding_;
    // The call is when the request left the client (extra delay included: the simulator
    // delivers it after that).
    history_[at].call = world_.now();
  }

  void init() {
    sim::TxnSubOp a{sim::TxnSubOp::Verb::kSet, std::string(kTokenA), fresh("tok-"), {}};
    sim::TxnSubOp b{sim::TxnSubOp::Verb::kSet, std::string(kTokenB), fresh("none-"), {}};
    send(-1, {a, b}, {0, 0});
  }

  void start_clients() {
    if (started_) return;
    started_ = true;
    for (int c = 0; c < kTxnClients; ++c) issue(c, ms(0, 100));
  }

  void issue(int c, Duration delay) {
    if (issued_ >= kTxnOps) return;
    ++issued_;
    Client& cl = clients_[static_cast<std::size_t>(c)];
    using Verb = sim::TxnSubOp::Verb;
    if (rng_.chance(2, 5)) {
      const std::string a(kTokenA), b(kTokenB);
      auto ka = cl.known.find(a);
      auto kb = cl.known.find(b);
      if (ka != cl.known.end() && kb != cl.known.end() && ka->second.value && kb->second.value &&
          is_token(ka->second.value) != is_token(kb->second.value) && rng_.chance(3, 4)) {
        // Move the token across, with a cas on each side.
        const bool from_a = is_token(ka->second.value);
        const Known& src = from_a ? ka->second : kb->second;
        const Known& dst = from_a ? kb->second : ka->second;
        sim::TxnSubOp take{Verb::kCas, from_a ? a : b, fresh("none-"), src.value};
        sim::TxnSubOp give{Verb::kCas, from_a ? b : a, fresh("tok-"), dst.value};
        send(c, {take, give}, {src.index, dst.index}, delay);
        return;
      }
      send(c, {{Verb::kGet, a, {}, {}}, {Verb::kGet, b, {}, {}}}, {0, 0}, delay);
      return;
    }
    const std::string& key = kRegisters[rng_.uniform(kRegisters.size())];
    auto k = cl.known.find(key);
    const std::uint64_t roll = rng_.uniform(10);
    if (k == cl.known.end() || roll < 2) {
      send(c, {{Verb::kGet, key, {}, {}}}, {0}, delay);
    } else if (roll < 4) {
      send(c, {{Verb::kSet, key, fresh("v"), {}}}, {0}, delay);
    } else if (roll < 7) {
      send(c, {{Verb::kCas, key, fresh("v"), k->second.value}}, {k->second.index}, delay);
    } else if (roll < 8 && k->second.value) {
      // A check-index and a get of the other register, atomically.
      const std::string& other = kRegisters[0] == key ? kRegisters[1] : kRegisters[0];
      send(c, {{Verb::kCheckIndex, key, {}, k->second.value}, {Verb::kGet, other, {}, {}}},
           {k->second.index, 0}, delay);
    } else if (roll < 9 && k->second.value) {
      send(c, {{Verb::kDeleteCas, key, {}, k->second.value}}, {k->second.index}, delay);
    } else {
      send(c, {{Verb::kDelete, key, {}, {}}}, {0}, delay);
    }
  }

  void on_reply(const sim::ClientReply& reply) {
    auto it = pending_.find(reply.id);
    if (it == pending_.end()) return;
    const Pending p = it->second;
    pending_.erase(it);
    --outstanding_;
    sim::KvTxn& txn = history_[p.op];
    txn.ret = reply.answered;
    const bool answered = reply.status == sim::ClientReply::Status::kAnswered;
    const int status = answered ? reply.response.status : 0;
    const std::string& body = reply.response.body;
    Client* cl = p.client >= 0 ? &clients_[static_cast<std::size_t>(p.client)] : nullptr;
    bool definite_nothing = reply.status == sim::ClientReply::Status::kRefused;
    if (answered && status >= 500 &&
        (body.find("No cluster leader") != std::string::npos ||
         body.find("No known Consul servers") != std::string::npos)) {
      definite_nothing = true;
    }
    if (answered && status != 200 && status != 409 && status < 500) {
      fail(fmt::format("txn answered {} {}: {}", status, body, sim::render_txn(txn)));
      return;
    }
    if (definite_nothing) {
      // Never proposed: it had no effect, and tells nothing.
      txn.outcome = sim::KvTxn::Outcome::kConflict;
      txn.ops.clear();
    } else if (status == 200) {
      interpret_ok(txn, body, cl);
    } else if (status == 409) {
      const Json j = Json::parse(body, nullptr, false);
      if (!j.is_object() || !j.contains("Errors") || !j["Errors"].is_array()) {
        fail(fmt::format("txn 409 body {}: {}", body, sim::render_txn(txn)));
        return;
      }
      txn.outcome = sim::KvTxn::Outcome::kConflict;
      for (const auto& e : j["Errors"]) txn.failed.push_back(e.value("OpIndex", std::size_t{0}));
      std::sort(txn.failed.begin(), txn.failed.end());
      if (cl != nullptr) {
        for (const auto& op : txn.ops) cl->known.erase(op.key);
        // A get of an absent key fails with "doesn't exist": it is absent, as far as we know.
        if (txn.ops.size() == 1 && txn.ops[0].verb == sim::TxnSubOp::Verb::kGet) {
          cl->known[txn.ops[0].key] = Known{};
        }
      }
    } else {
      txn.outcome = sim::KvTxn::Outcome::kUnknown;
      if (cl != nullptr) {
        for (const auto& op : txn.ops) cl->known.erase(op.key);
      }
    }
    if (!failure_.empty()) return;
    if (p.client < 0) {
      if (final_read_) {
        if (txn.outcome == sim::KvTxn::Outcome::kOk) {
          final_seen_ = true;
        } else {
          final_read();
        }
        return;
      }
      if (txn.outcome == sim::KvTxn::Outcome::kOk) {
        start_clients();
      } else {
        world_.schedule(world_.now() + Duration::milliseconds(300), "init",
                        [this](sim::World&) { init(); });
      }
      return;
    }
    const bool bad =
        txn.outcome != sim::KvTxn::Outcome::kOk && txn.outcome != sim::KvTxn::Outcome::kConflict;
    issue(p.client, bad ? ms(300, 1000) : ms(0, 150));
  }

  void interpret_ok(sim::KvTxn& txn, const std::string& body, Client* cl) {
    const Json j = Json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("Results")) {
      fail(fmt::format("txn 200 body {}: {}", body, sim::render_txn(txn)));
      return;
    }
    txn.outcome = sim::KvTxn::Outcome::kOk;
    txn.reads.assign(txn.ops.size(), std::nullopt);
    const Json& results = j["Results"];
    std::size_t r = 0;
    std::map<std::string, Known> learned;
    for (std::size_t i = 0; i < txn.ops.size(); ++i) {
      const sim::TxnSubOp& op = txn.ops[i];
      using Verb = sim::TxnSubOp::Verb;
      if (op.verb == Verb::kDelete || op.verb == Verb::kDeleteCas) {
        learned[op.key] = Known{};
        continue;
      }
      if (!results.is_array() || r >= results.size() || !results[r].contains("KV") ||
          results[r]["KV"].value("Key", "") != op.key) {
        fail(fmt::format("txn 200 results do not match the ops: {}: {}", body,
                         sim::render_txn(txn)));
        return;
      }
      const Json& kv = results[r++]["KV"];
      const std::uint64_t index = kv.value("ModifyIndex", std::uint64_t{0});
      if (op.verb == Verb::kGet) {
        Bytes raw;
        std::string value;
        if (kv.contains("Value") && kv["Value"].is_string()) {
          if (!base64_decode(kv["Value"].get<std::string>(), raw)) {
            fail("txn get returned bad base64: " + body);
            return;
          }
          value = to_string(raw);
        }
        txn.reads[i] = value;
        learned[op.key] = Known{value, index};
      } else if (op.verb == Verb::kSet || op.verb == Verb::kCas) {
        learned[op.key] = Known{op.value, index};
      } else if (op.verb == Verb::kCheckIndex) {
        learned[op.key] = Known{op.expected, index};
      }
    }
    // Both token keys read at once: exactly one token.
    if (txn.ops.size() == 2 && txn.ops[0].verb == sim::TxnSubOp::Verb::kGet &&
        txn.ops[0].key == kTokenA && txn.ops[1].key == kTokenB) {
      if (is_token(txn.reads[0]) == is_token(txn.reads[1])) {
        fail(fmt::format("an atomic read of both token keys saw {} and {}: the token was {}",
                         *txn.reads[0], *txn.reads[1],
                         is_token(txn.reads[0]) ? "duplicated" : "lost"));
        return;
      }
    }
    if (txn.ops.size() == 2 && txn.ops[0].verb == sim::TxnSubOp::Verb::kCas &&
        txn.ops[0].key != txn.ops[1].key && txn.ops[1].verb == sim::TxnSubOp::Verb::kCas) {
      ++moves_;
    }
    if (cl != nullptr) {
      for (auto& [key, known] : learned) cl->known[key] = known;
    }
  }

  void final_read() {
    using Verb = sim::TxnSubOp::Verb;
    send(-1,
         {{Verb::kGet, std::string(kTokenA), {}, {}}, {Verb::kGet, std::string(kTokenB), {}, {}}},
         {0, 0}, Duration::milliseconds(300));
  }

  std::vector<Client> clients_;
  std::vector<sim::KvTxn> history_;
  std::map<RequestId, Pending> pending_;
  std::size_t issued_ = 0;
  std::size_t outstanding_ = 0;
  std::uint64_t next_value_ = 1;
  std::uint64_t moves_ = 0;
  bool started_ = false;
  bool final_read_ = false;
  bool final_seen_ = false;
};

TEST(SessionSim, TxnLinearizable) { run_seeds<TxnRun>(50, "TxnLinearizable"); }

TEST(SessionSim, TxnASeedReplaysExactly) {
  TxnRun a(4242);
  TxnRun b(4242);
  EXPECT_EQ(a.run(), b.run());
  EXPECT_EQ(a.trace_hash(), b.trace_hash());
}

// The checker can fail: two moves of one token, both answered ok, from the same state.
TEST(SessionSim, TxnCheckerFindsADuplicatedToken) {
  using Verb = sim::TxnSubOp::Verb;
  auto at = [](int ms) { return Instant::zero() + Duration::milliseconds(ms); };
  std::vector<sim::KvTxn> h;
  h.push_back({0,
               {{Verb::kSet, "a", "tok-1", {}}, {Verb::kSet, "b", "none-1", {}}},
               at(0),
               at(1),
               sim::KvTxn::Outcome::kOk,
               {std::nullopt, std::nullopt},
               {}});
  h.push_back({1,
               {{Verb::kCas, "a", "none-2", "tok-1"}, {Verb::kCas, "b", "tok-2", "none-1"}},
               at(2),
               at(5),
               sim::KvTxn::Outcome::kOk,
               {std::nullopt, std::nullopt},
               {}});
  auto second = h.back();
  second.client = 2;
  second.ops[0].value = "none-3";
  second.ops[1].value = "tok-3";
  h.push_back(second);
  EXPECT_FALSE(sim::check_txn_linearizable(h).ok);
  // One of them answered 409 naming both cas ops: linearizable.
  h.back().outcome = sim::KvTxn::Outcome::kConflict;
  h.back().failed = {0, 1};
  EXPECT_TRUE(sim::check_txn_linearizable(h).ok) << sim::check_txn_linearizable(h).detail;
  // ... but not when it names only the first (the second would then have seen b = "none-1"
  // after the other move, which it cannot).
  h.back().failed = {0};
  EXPECT_FALSE(sim::check_txn_linearizable(h).ok);
}

// ---------------------------------------------------------------------------------------------
// Session invalidation through gossip: a crashed client's serfHealth goes critical.

node::AgentConfig gossip_config(const std::string& name, const std::string& address, bool server,
                                const std::string& join) {
  node::AgentConfig c;
  c.node_name = name;
  c.datacenter = "shenzhen";
  c.server = server;
  c.bootstrap_expect = server ? 3 : 0;
  c.data_dir = "/data";
  c.bind_addr = address;
  c.raft_multiplier = 1;
  c.check_invariants_each_input = true;
  c.retry_join = {join};
  c.retry_interval = Duration::seconds(1);
  return c;
}

constexpr std::string_view kReleaseKey = "gossip/release";
constexpr std::string_view kDeleteKey = "gossip/delete";
// memberlist's bound for N = 5 with LAN defaults (gossip_agent_sim_test): 6 x 4 x max(1, log10 5)
// x 1 s plus a probe round; then the leader's reconcile registers serfHealth critical, which
// commits within a Raft round.
constexpr Duration kDetectBound = Duration::seconds(26);
constexpr Duration kReconcileBound = Duration::seconds(2);

class GossipRun {
 public:
  explicit GossipRun(std::uint64_t seed)
      : world_(seed),
        watch_(world_, {"s1", "s2", "s3"}, {std::string(kReleaseKey), std::string(kDeleteKey)}) {
    if (std::getenv("PRAETOR_TRACE") != nullptr) world_.trace().set_echo(stderr);
    add("s1", "127.0.0.2", true, "127.0.0.2");
    add("s2", "127.0.0.3", true, "127.0.0.2");
    add("s3", "127.0.0.4", true, "127.0.0.2");
    add("c1", "127.0.0.5", false, "127.0.0.3");
    add("c2", "127.0.0.6", false, "127.0.0.3");
  }

  std::string plan() const { return "no faults: 3 servers, clients c1 and c2, c1 crashes"; }
  std::uint64_t trace_hash() const { return world_.trace_hash(); }

  void tally(std::string& totals) {
    static std::uint64_t seeds = 0, races = 0, inside = 0;
    inside += raced_inside_delay_;
    static Duration worst_clear = Duration::zero(), worst_take = Duration::zero();
    ++seeds;
    races += races_;
    worst_clear = std::max(worst_clear, worst_clear_);
    worst_take = std::max(worst_take, worst_take_);
    totals = fmt::format(
        "{} seeds; slowest crash-to-invalidation {}, slowest invalidation-to-acquire {} "
        "(LockDelay {}); {} keys had an acquire proposed while the invalidation was in flight, "
        "{} of them taken inside the LockDelay",
        seeds, worst_clear, worst_take, kLockDelay, races, inside);
  }

  std::string run() {
    const auto until = [&](const std::function<bool()>& done, Duration within) {
      return world_.run_until(
          [&] {
            watch_.observe();
            return !watch_.failure().empty() || done();
          },
          world_.now() + within);
    };
    // Sessions on c1 (serfHealth, the default) can be created once the leader registered c1.
    std::string release_session, delete_session, c2_session;
    const auto create = [&](const std::string& via, const std::string& body, std::string& id) {
      return until(
          [&] {
            if (!id.empty()) return true;
            auto r = call(via, request("PUT", "/v1/session/create", body));
            if (r && r->status == 200) {
              const Json j = Json::parse(r->body, nullptr, false);
              if (j.is_object() && j.contains("ID")) id = j["ID"].get<std::string>();
            }
            return !id.empty();
          },
          Duration::seconds(60));
    };
    if (!create("c1", R"({"Name":"r","LockDelay":"2s"})", release_session) ||
        !create("c1", R"({"Name":"d","LockDelay":"2s","Behavior":"delete"})", delete_session) ||
        !create("c2", R"({"Name":"c2","LockDelay":"2s"})", c2_session)) {
      return "could not create the sessions within 60 s";
    }
    for (auto [key, session] :
         {std::pair{kReleaseKey, release_session}, std::pair{kDeleteKey, delete_session}}) {
      node::HttpRequest r = request("PUT", std::string("/v1/kv/") + std::string(key), "c1-value");
      r.query = {{"acquire", session}};
      auto answer = call("c1", r);
      if (!answer || answer->body != "true") {
        return fmt::format("c1 could not acquire {}: {}", key, answer ? answer->body : "no answer");
      }
    }
    delete_session_ = delete_session;
    // Crash c1; c2 tries to take both keys every 100 ms from then on.
    world_.crash("c1");
    const Instant crashed = world_.now();
    watch_.on_proposal = [&](const ServerWatch::Proposal& p) {
      if (const auto* reg = std::get_if<catalog::Register>(&p.command)) {
        if (reg->node.name == "c1" && !invalidation_proposed_)
          invalidation_proposed_ = world_.now();
      }
      if (const auto* lock = std::get_if<catalog::KvLock>(&p.command)) {
        auto& k = keys_[lock->key];
        if (invalidation_proposed_ && !k.cleared) k.raced = true;
      }
    };
    keys_[std::string(kReleaseKey)];
    keys_[std::string(kDeleteKey)];
    world_.on_reply([this](const sim::ClientReply& reply) { on_reply(reply); });
    contend(c2_session);
    const bool settled = until(
        [&] {
          note_clearing();
          for (const auto& [key, k] : keys_) {
            if (!k.taken) return false;
          }
          return true;
        },
        kDetectBound + kReconcileBound + kLockDelay + Duration::seconds(10));
    if (!watch_.failure().empty()) return watch_.failure();
    if (std::getenv("PRAETOR_DEBUG") != nullptr) {
      for (const char* name : {"s1", "s2", "s3"}) {
        const Agent* a = world_.process_as<Agent>(name);
        if (a == nullptr) continue;
        std::fprintf(stderr, "%s role=%d sessions=%zu\n", name, static_cast<int>(a->raft_role()),
                     a->fsm().sessions().all().size());
        for (const auto& [id, se] : a->fsm().sessions().all()) {
          std::string checks;
          for (const auto& c : se.def.node_checks) checks += c + ",";
          std::fprintf(stderr, "  session %s node=%s checks=%s\n", id.c_str(), se.def.node.c_str(),
                       checks.c_str());
        }
        for (const auto& [k, e] : a->fsm().kv().entries()) {
          std::fprintf(stderr, "  key %s session=%s li=%lu\n", k.c_str(), e.session.c_str(),
                       static_cast<unsigned long>(e.lock_index));
        }
        for (const auto& [k, c] : a->fsm().catalog().check_table()) {
          std::fprintf(stderr, "  check %s/%s status=%d\n", k.first.c_str(), k.second.c_str(),
                       static_cast<int>(c.def.status));
        }
      }
    }
    for (const auto& [key, k] : keys_) {
      if (!k.cleared) {
        return fmt::format("{} was not {} within {} of c1's crash", key,
                           key == kReleaseKey ? "released" : "deleted", world_.now() - crashed);
      }
      worst_clear_ = std::max(worst_clear_, *k.cleared - crashed);
      if (*k.cleared - crashed > kDetectBound + kReconcileBound) {
        return fmt::format("{} was invalidated {} after c1's crash, beyond {} + {}", key,
                           *k.cleared - crashed, kDetectBound, kReconcileBound);
      }
      if (!k.taken) {
        return fmt::format("c2 did not take {} within {} of its invalidation at {} (settled: {})",
                           key, world_.now() - *k.cleared, *k.cleared, settled);
      }
      worst_take_ = std::max(worst_take_, *k.taken - *k.cleared);
      // Client-visible lock-delay: unless an acquire was already proposed while the
      // invalidation was in flight (then the leader had no delay to check it against: D29),
      // c2's acquire is answered no earlier than LockDelay after the first server applied it.
      if (k.raced) {
        ++races_;
        if (*k.taken < *k.cleared + kLockDelay) ++raced_inside_delay_;
      } else if (*k.taken < *k.cleared + kLockDelay) {
        return fmt::format(
            "c2 took {} at {}, {} after its invalidation was applied at {}: "
            "inside the LockDelay of {}",
            key, *k.taken, *k.taken - *k.cleared, *k.cleared, kLockDelay);
      }
      if (*k.taken > *k.cleared + kLockDelay + Duration::seconds(3)) {
        return fmt::format("c2 took {} only {} after its invalidation (LockDelay {})", key,
                           *k.taken - *k.cleared, kLockDelay);
      }
    }
    if (!world_.violations().empty()) return "world violation: " + world_.violations().front();
    return "";
  }

 private:
  struct KeyState {
    std::optional<Instant> cleared;  // first seen released (or deleted) on a server
    std::optional<Instant> taken;    // c2's acquire answered true (when the answer arrived)
    bool raced = false;
  };

  void add(const std::string& name, const std::string& address, bool server,
           const std::string& join) {
    sim::NodeOptions options;
    options.name = name;
    options.datacenter = "shenzhen";
    options.addresses = {address};
    world_.add_process(options, [=] {
      return std::make_unique<Agent>(gossip_config(name, address, server, join));
    });
  }

  std::optional<node::HttpResponse> call(const std::string& to, node::HttpRequest r) {
    const RequestId id = world_.submit(to, std::move(r));
    world_.run_until(
        [&] {
          watch_.observe();
          return world_.reply(id)->status != sim::ClientReply::Status::kPending;
        },
        world_.now() + Duration::seconds(30));
    const sim::ClientReply* reply = world_.reply(id);
    if (reply->status != sim::ClientReply::Status::kAnswered) return std::nullopt;
    return reply->response;
  }

  void note_clearing() {
    for (const char* name : {"s1", "s2", "s3"}) {
      const Agent* a = world_.process_as<Agent>(name);
      if (a == nullptr) continue;
      const catalog::KvEntry* r = a->fsm().kv().get(std::string(kReleaseKey));
      auto& kr = keys_[std::string(kReleaseKey)];
      if (!kr.cleared && r != nullptr && r->session.empty()) {
        kr.cleared = world_.now();
        if (to_string(r->value) != "c1-value") {
          watch_.fail("the released key lost its value: " + to_string(r->value));
        }
      }
      auto& kd = keys_[std::string(kDeleteKey)];
      const catalog::KvEntry* d = a->fsm().kv().get(std::string(kDeleteKey));
      if (d != nullptr && d->session == delete_session_) had_delete_key_.insert(name);
      if (!kd.cleared && d == nullptr && had_delete_key_.contains(name)) kd.cleared = world_.now();
    }
  }

  void contend(const std::string& session) {
    bool all_taken = true;
    for (const auto& [key, k] : keys_) all_taken = all_taken && k.taken.has_value();
    if (all_taken) return;
    for (const auto& [key, k] : keys_) {
      if (k.taken) continue;
      node::HttpRequest r = request("PUT", "/v1/kv/" + key, "c2-value");
      r.query = {{"acquire", session}};
      const RequestId id = world_.submit("c2", r);
      in_flight_[id] = key;
    }
    world_.schedule(world_.now() + Duration::milliseconds(100), "c2",
                    [this, session](sim::World&) { contend(session); });
  }

  void on_reply(const sim::ClientReply& reply) {
    auto it = in_flight_.find(reply.id);
    if (it == in_flight_.end()) return;
    if (reply.status == sim::ClientReply::Status::kAnswered && reply.response.body == "true") {
      auto& k = keys_[it->second];
      if (!k.taken) k.taken = reply.answered;
    }
    in_flight_.erase(it);
  }

  sim::World world_;
  ServerWatch watch_;
  std::map<std::string, KeyState> keys_;
  std::map<RequestId, std::string> in_flight_;
  std::string delete_session_;
  std::set<std::string> had_delete_key_;
  std::optional<Instant> invalidation_proposed_;
  std::uint64_t races_ = 0;
  std::uint64_t raced_inside_delay_ = 0;
  Duration worst_clear_ = Duration::zero();
  Duration worst_take_ = Duration::zero();
};

TEST(SessionSim, GossipInvalidation) { run_seeds<GossipRun>(50, "GossipInvalidation"); }

}  // namespace
}  // namespace praetor
