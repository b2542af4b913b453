// The seed's MySQL story in the simulator (issue 12): three servers and two client agents in
// shenzhen; each client carries the service w-3333-mysql-test from its config file with a script
// check (every 5 s) whose scripted outcome says whether that host is the master. The catalog's
// /v1/health/service/w-3333-mysql-test?passing must follow a flip of the outcomes:
//
//   (1) plain flip: within one check interval plus the sync delay (a run that started just
//       before the flip still reports the old outcome; the next starts an interval after it
//       ended, and its status change is synced at once);
//   (2) a flip while the Raft leader crashes: within that plus an election;
//   (3) a flip while the new master's agent is down, restarted a second later: within the
//       restart, one interval (its checks start critical and run first within an interval),
//       and the sync delay.
// After each flip the old master is never shown passing again. An application's DNS lookup
// follows too: a prober asks client agent c1 (which holds no catalog: it asks the servers through
// its route table) for the service's A record every 100 ms, and each flip is complete only when
// the answer is exactly the new master's address. Every process checks its invariants after every
// input (anti-entropy's LocalState among them).
//
// PRAETOR_SEED=N runs one seed; PRAETOR_SEEDS=N sets how many; PRAETOR_TRACE=1 echoes the trace.
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <set>

#include "core/node/agent.hpp"
#include "sim/world.hpp"
#include "tests/support/dns_prober.hpp"

namespace praetor {
namespace {

using node::Agent;
using testing::DnsProber;

constexpr std::string_view kService = "w-3333-mysql-test";
const std::string kDnsName = std::string(kService) + ".service.consul.";
constexpr Duration kInterval = Duration::seconds(5);
constexpr Duration kRunTime = Duration::milliseconds(200);
// A status change travels: the agent's internal request (forwarded client -> server -> leader),
// one Raft round with fsync, and the apply on the observed server.
constexpr Duration kSyncBound = Duration::seconds(2);
// Election after the leader crashes (raft_multiplier 1) plus the forwarder noticing.
constexpr Duration kFailoverBound = Duration::seconds(12);
// From the catalog showing the flip to DNS answering it through a client agent: the next query
// (100 ms) and its forward to a server (a stale read, which may trail the leader by a commit
// round); after a leader crash the client may first try the dead server (its forwarding
// timeout).
constexpr Duration kDnsBound = Duration::seconds(5);
const std::vector<std::string> kCheckArgs = {"/bin/sh", "-c",
                                             "/data/consul/shell/check_mysql_master.sh"};

std::uint64_t seed_count(std::uint64_t fallback) {
  if (const char* n = std::getenv("PRAETOR_SEEDS")) return std::strtoull(n, nullptr, 10);
  return fallback;
}

node::AgentConfig agent_config(const std::string& name, const std::string& address, bool server,
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
  if (!server) {
    c.enable_local_script_checks = true;
    node::ServiceDefinition s;
    s.id = s.name = std::string(kService);
    s.port = 3306;
    s.tags = {"master"};
    node::CheckDefinition check;
    check.id = "service:" + s.id;
    check.name = "MySQL master";
    check.service_id = s.id;
    check.args = kCheckArgs;
    check.interval = kInterval;
    check.timeout = Duration::seconds(3);
    s.checks.push_back(check);
    c.services.push_back(s);
  }
  return c;
}

class FlipRun {
 public:
  explicit FlipRun(std::uint64_t seed) : world_(seed) {
    if (std::getenv("PRAETOR_TRACE") != nullptr) world_.trace().set_echo(stderr);
    add("s1", "127.0.0.2", true, "127.0.0.2");
    add("s2", "127.0.0.3", true, "127.0.0.2");
    add("s3", "127.0.0.4", true, "127.0.0.2");
    add("c1", "127.0.0.5", false, "127.0.0.3");
    add("c2", "127.0.0.6", false, "127.0.0.4");
    sim::NodeOptions prober;
    prober.name = "app";
    prober.datacenter = "shenzhen";
    prober.addresses = {"127.0.0.9"};
    world_.add_process(prober, [] {
      return std::make_unique<DnsProber>(node::Endpoint{"127.0.0.5", 8600}, kDnsName);
    });
    // And one asking server s3 directly: as a follower it answers from its own catalog (stale,
    // within max_stale of its leader's last contact); as the leader, from its own too.
    prober.name = "app2";
    prober.addresses = {"127.0.0.10"};
    world_.add_process(prober, [] {
      return std::make_unique<DnsProber>(node::Endpoint{"127.0.0.4", 8600}, kDnsName);
    });
  }

  std::string run() {
    set_master("c1");
    if (!until_passing({"c1"}, Duration::seconds(90))) {
      return fmt::format("c1 never showed as the only passing instance (now {})", shown());
    }
    // (1) A plain flip.
    if (auto f = flip("c2", kInterval + kRunTime * 2 + kSyncBound, {}); !f.empty()) return f;
    // (2) A flip while the leader crashes; it comes back later.
    const std::string leader = current_leader();
    if (leader.empty()) return "no leader before the failover flip";
    if (auto f = flip("c1", kInterval + kRunTime * 2 + kSyncBound + kFailoverBound,
                      [&] { world_.crash(leader); });
        !f.empty()) {
      return "across a leader crash: " + f;
    }
    world_.restart(leader);
    // (3) A flip to c2 while c2's agent is down; it restarts a second later.
    world_.crash("c2");
    world_.run_for(Duration::milliseconds(10));
    if (auto f = flip("c2", Duration::seconds(1) + kInterval + kRunTime * 2 + kSyncBound,
                      [&] {
                        world_.schedule(world_.now() + Duration::seconds(1), "restart c2",
                                        [](sim::World& w) { w.restart("c2"); });
                      });
        !f.empty()) {
      return "across a client restart: " + f;
    }
    if (!world_.violations().empty()) return "world violation: " + world_.violations().front();
    return "";
  }

  Duration worst() const { return worst_; }
  Duration worst_dns() const { return worst_dns_; }

 private:
  void add(const std::string& name, const std::string& address, bool server,
           const std::string& join) {
    sim::NodeOptions options;
    options.name = name;
    options.datacenter = "shenzhen";
    options.addresses = {address};
    world_.add_process(options, [=] {
      return std::make_unique<Agent>(agent_config(name, address, server, join));
    });
  }

  void set_master(const std::string& master) {
    for (const char* c : {"c1", "c2"}) {
      sim::ScriptedOutcome o;
      o.exit_code = c == master ? 0 : 2;
      o.output = c == master ? "master" : "not master";
      o.run_time = kRunTime;
      world_.exec(c).set(kCheckArgs, o);
    }
  }

  // The passing instances of the service on the current leader (what a default read shows).
  std::optional<std::set<std::string>> passing() {
    const std::string leader = current_leader();
    if (leader.empty()) return std::nullopt;
    const Agent* a = world_.process_as<Agent>(leader);
    std::set<std::string> out;
    for (const auto& e :
         a->fsm().catalog().health_service(std::string(kService), {}, {}, true).value) {
      out.insert(e.node->def.name);
    }
    return out;
  }

  std::string current_leader() {
    std::string best;
    Term term(0);
    for (const char* s : {"s1", "s2", "s3"}) {
      const Agent* a = world_.process_as<Agent>(s);
      if (a != nullptr && a->raft_role() == raft::Role::kLeader && a->raft_term() >= term) {
        best = s;
        term = a->raft_term();
      }
    }
    return best;
  }

  std::string shown() {
    auto p = passing();
    if (!p) return "no leader";
    std::string out;
    for (const auto& n : *p) out += (out.empty() ? "" : ",") + n;
    return "{" + out + "}";
  }

  bool until_passing(const std::set<std::string>& want, Duration within) {
    return world_.run_until([&] { return passing() == want; }, world_.now() + within);
  }

  // Flips the master to `to` (and runs `fault` at the same moment); the leader must show exactly
  // `to` as passing within `bound`, and, once it has, never the old master again for an interval.
  std::string flip(const std::string& to, Duration bound, const std::function<void()>& fault) {
    const std::string from = to == "c1" ? "c2" : "c1";
    set_master(to);
    const Instant at = world_.now();
    if (fault) fault();
    if (!until_passing({to}, bound)) {
      return fmt::format("{} was not the only passing instance {} after the flip (shows {})", to,
                         bound, shown());
    }
    worst_ = std::max(worst_, world_.now() - at);
    // DNS through c1: the next answers (a query every 100 ms, one forward to a server each) carry
    // the new master alone. Stale reads may lag the leader by a Raft round.
    const std::set<std::string> want_dns{to == "c1" ? "127.0.0.5" : "127.0.0.6"};
    auto* prober = world_.process_as<DnsProber>("app");
    auto* server_prober = world_.process_as<DnsProber>("app2");
    if (!world_.run_until(
            [&] {
              return prober->latest == want_dns &&
                     (!world_.is_up("s3") || server_prober->latest == want_dns);
            },
            world_.now() + kDnsBound)) {
      auto text = [](const DnsProber* p) {
        return p->latest ? fmt::format("{{{}}}", fmt::join(*p->latest, ","))
                         : std::string("nothing/SERVFAIL");
      };
      return fmt::format(
          "DNS did not answer {} alone within {} of the catalog (via c1: {}, via s3: {})", to,
          kDnsBound, text(prober), text(server_prober));
    }
    worst_dns_ = std::max(worst_dns_, world_.now() - at);
    bool regressed = false;
    world_.run_until(
        [&] {
          auto p = passing();
          regressed = regressed || (p && p->contains(from));
          return regressed;
        },
        world_.now() + kInterval * 2);
    if (regressed) return fmt::format("{} showed as passing again after the flip", from);
    return "";
  }

  sim::World world_;
  Duration worst_ = Duration::zero();
  Duration worst_dns_ = Duration::zero();
};

TEST(ChecksSim, MasterFlipFollowsWithinOneInterval) {
  std::uint64_t first = 1;
  std::uint64_t count = seed_count(30);
  if (const char* one = std::getenv("PRAETOR_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  }
  int failures = 0;
  Duration worst = Duration::zero();
  Duration worst_dns = Duration::zero();
  for (std::uint64_t seed = first; seed < first + count && failures < 3; ++seed) {
    FlipRun run(seed);
    const std::string failure = run.run();
    worst = std::max(worst, run.worst());
    worst_dns = std::max(worst_dns, run.worst_dns());
    if (!failure.empty()) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": " << failure << "\nreplay: PRAETOR_SEED=" << seed
                    << " PRAETOR_TRACE=1 build/debug/tests/cluster/checks_sim_test";
    }
  }
  std::printf("%llu seeds; slowest flip-to-catalog %s, flip-to-DNS %s\n",
              static_cast<unsigned long long>(count), fmt::format("{}", worst).c_str(),
              fmt::format("{}", worst_dns).c_str());
}

}  // namespace
}  // namespace praetor
