// Agents over gossip in the simulator (Consul's LAN/WAN defaults unless a test says otherwise):
// discovery from one join address, clients forwarding to servers, failure detection, leave by
// stop reason, force-leave, the WAN pool across datacenters and its partition healing, the
// member snapshot and rejoin_after_leave, and retry_max / start_join giving up. Each test is one
// seed; PRAETOR_TRACE=1 echoes the simulator trace.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/node/agent.hpp"
#include "sim/world.hpp"
#include "tests/support/http_request.hpp"

namespace praetor {
namespace {

using gossip::SerfStatus;
using node::Agent;
using node::AgentConfig;

struct Spec {
  std::string name = {};
  std::string address = {};
  std::string dc = "shenzhen";
  bool server = false;
  int expect = 0;
  std::vector<std::string> retry_join = {};
  std::vector<std::string> start_join = {};
  std::vector<std::string> start_join_wan = {};
  int retry_max = 0;
  bool rejoin_after_leave = false;
};

AgentConfig config_of(const Spec& s) {
  AgentConfig c;
  c.node_name = s.name;
  c.datacenter = s.dc;
  c.server = s.server;
  c.bootstrap_expect = s.expect;
  c.data_dir = "/data";
  c.bind_addr = s.address;
  c.raft_multiplier = 1;
  c.check_invariants_each_input = true;
  c.retry_join = s.retry_join;
  c.start_join = s.start_join;
  c.start_join_wan = s.start_join_wan;
  c.retry_interval = Duration::seconds(1);
  c.retry_max = s.retry_max;
  c.rejoin_after_leave = s.rejoin_after_leave;
  return c;
}

using testing::http;

class Cluster {
 public:
  explicit Cluster(std::uint64_t seed) : world(seed) {
    if (std::getenv("PRAETOR_TRACE") != nullptr) world.trace().set_echo(stderr);
  }

  void add(Spec spec) {
    sim::NodeOptions options;
    options.name = spec.name;
    options.datacenter = spec.dc;
    options.addresses = {spec.address};
    specs.push_back(spec);
    world.add_process(options, [spec] { return std::make_unique<Agent>(config_of(spec)); });
  }

  Agent* agent(const std::string& name) { return world.process_as<Agent>(name); }

  // `about`'s status as `observer` sees it in its LAN (or WAN) pool.
  std::optional<SerfStatus> status(const std::string& observer, const std::string& about,
                                   bool wan = false) {
    Agent* a = agent(observer);
    if (a == nullptr) return std::nullopt;
    const gossip::Serf* pool = wan ? a->wan() : a->lan();
    if (pool == nullptr) return std::nullopt;
    auto it = pool->members().find(about);
    if (it == pool->members().end()) return std::nullopt;
    return it->second.status;
  }

  // Whether every running agent of the LAN pool other than `about` sees it with `s`.
  bool all_see(const std::string& about, SerfStatus s) {
    for (const auto& spec : specs) {
      if (spec.name == about || agent(spec.name) == nullptr) continue;
      if (status(spec.name, about) != s) return false;
    }
    return true;
  }

  bool run_until(const std::function<bool()>& done, Duration within) {
    return world.run_until(done, world.now() + within);
  }

  // Submits and runs until the answer arrives.
  std::optional<node::HttpResponse> call(const std::string& to, node::HttpRequest request,
                                         Duration within = Duration::seconds(30)) {
    RequestId id = world.submit(to, std::move(request));
    run_until([&] { return world.reply(id)->status != sim::ClientReply::Status::kPending; },
              within);
    const sim::ClientReply* r = world.reply(id);
    if (r->status != sim::ClientReply::Status::kAnswered) return std::nullopt;
    return r->response;
  }

  bool has_leader(const std::vector<std::string>& servers) {
    for (const auto& s : servers) {
      Agent* a = agent(s);
      if (a != nullptr && a->raft_role() == raft::Role::kLeader) return true;
    }
    return false;
  }

  sim::World world;
  std::vector<Spec> specs;
};

// Three servers that know only s1's address, and two clients that know only s2's.
void add_shenzhen(Cluster& c) {
  c.add({.name = "s1", .address = "127.0.0.2", .server = true, .expect = 3,
         .retry_join = {"127.0.0.2"}});
  c.add({.name = "s2", .address = "127.0.0.3", .server = true, .expect = 3,
         .retry_join = {"127.0.0.2"}});
  c.add({.name = "s3", .address = "127.0.0.4", .server = true, .expect = 3,
         .retry_join = {"127.0.0.2"}});
  c.add({.name = "c1", .address = "127.0.0.5", .retry_join = {"127.0.0.3"}});
  c.add({.name = "c2", .address = "127.0.0.6", .retry_join = {"127.0.0.3"}});
}

TEST(GossipAgentSim, ServersBootstrapThroughGossipAndClientsForward) {
  Cluster c(11);
  add_shenzhen(c);
  ASSERT_TRUE(c.run_until([&] { return c.has_leader({"s1", "s2", "s3"}); }, Duration::seconds(30)));
  ASSERT_TRUE(c.run_until(
      [&] {
        for (const char* n : {"s1", "s2", "s3", "c1", "c2"}) {
          if (!c.all_see(n, SerfStatus::kAlive)) return false;
        }
        return true;
      },
      Duration::seconds(30)));
  // Every server is a voter: bootstrap_expect counted the three gossip found.
  const raft::Raft* raft = c.agent("s1")->raft();
  ASSERT_NE(raft, nullptr);
  EXPECT_EQ(raft->status().membership.voters.size(), 3u);

  // A client forwards writes and reads (client -> server -> leader when needed).
  auto put = c.call("c1", http("PUT", "/v1/kv/k", "v"));
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  EXPECT_EQ(put->body, "true");
  node::HttpRequest get = http("GET", "/v1/kv/k");
  get.query = {{"raw", ""}};
  auto read = c.call("c2", get);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(read->body, "v");
  auto leader = c.call("c2", http("GET", "/v1/status/leader"));
  ASSERT_TRUE(leader);
  EXPECT_NE(leader->body, "\"\"");
  // The client's own data never holds the KV store: it only forwards.
  EXPECT_EQ(c.agent("c1")->fsm().kv().entries().size(), 0u);
}

TEST(GossipAgentSim, ACrashedClientIsFailedEverywhereThenAliveAgainAfterRestart) {
  Cluster c(12);
  add_shenzhen(c);
  ASSERT_TRUE(c.run_until([&] { return c.all_see("c2", SerfStatus::kAlive); }, Duration::seconds(30)));
  c.world.crash("c2");
  const Instant crashed = c.world.now();
  // memberlist's bound for N = 5 with LAN defaults: 6 x 4 x max(1, log10 5) x 1 s, plus a probe.
  ASSERT_TRUE(c.run_until([&] { return c.all_see("c2", SerfStatus::kFailed); }, Duration::seconds(26)));
  EXPECT_LE(c.world.now() - crashed, Duration::seconds(26));
  c.world.restart("c2");
  ASSERT_TRUE(c.run_until([&] { return c.all_see("c2", SerfStatus::kAlive); }, Duration::seconds(30)));
}

TEST(GossipAgentSim, StopReasonsDecideWhetherAnAgentLeaves) {
  Cluster c(13);
  add_shenzhen(c);
  ASSERT_TRUE(c.run_until(
      [&] { return c.all_see("c1", SerfStatus::kAlive) && c.all_see("s3", SerfStatus::kAlive); },
      Duration::seconds(30)));
  // A client leaves on SIGTERM (leave_on_terminate defaults to true for clients).
  c.world.stop("c1", node::StopReason::kTerminate);
  ASSERT_TRUE(c.run_until([&] { return c.all_see("c1", SerfStatus::kLeft); }, Duration::seconds(20)));
  // It stops once its leave had time to spread (well within 5 s).
  EXPECT_TRUE(c.run_until([&] { return !c.world.is_up("c1"); }, Duration::seconds(5)));
  // A server does not leave on SIGINT (skip_leave_on_interrupt defaults to true for servers):
  // the others see it fail, not leave, and it stays in the Raft configuration.
  c.world.stop("s3", node::StopReason::kInterrupt);
  ASSERT_TRUE(c.run_until([&] { return c.all_see("s3", SerfStatus::kFailed); }, Duration::seconds(30)));
  ASSERT_TRUE(c.run_until([&] { return c.has_leader({"s1", "s2"}); }, Duration::seconds(20)));
  for (const char* s : {"s1", "s2"}) {
    EXPECT_EQ(c.agent(s)->raft()->status().membership.voters.size(), 3u) << s;
  }
  // force-leave turns the failed server into a departed one, which autopilot then removes.
  auto forced = c.call("s1", http("PUT", "/v1/agent/force-leave/s3"));
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->status, 200) << forced->body;
  ASSERT_TRUE(c.run_until([&] { return c.all_see("s3", SerfStatus::kLeft); }, Duration::seconds(20)));
  ASSERT_TRUE(c.run_until(
      [&] {
        Agent* a = c.agent("s1");
        return a->raft()->status().membership.all().size() == 2;
      },
      Duration::seconds(20)))
      << "autopilot kept a server that left";
  auto missing = c.call("s1", http("PUT", "/v1/agent/force-leave/nobody"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 500);
}

TEST(GossipAgentSim, DatacentersFederateOverTheWanAndHealAfterAPartition) {
  Cluster c(14);
  add_shenzhen(c);
  c.add({.name = "f1", .address = "127.0.1.2", .dc = "foshan", .server = true, .expect = 1,
         .start_join_wan = {"127.0.0.2"}});
  ASSERT_TRUE(c.run_until(
      [&] {
        for (const char* s : {"s1", "s2", "s3", "f1"}) {
          Agent* a = c.agent(s);
          if (a == nullptr || a->wan() == nullptr || a->wan()->members().size() != 4) return false;
        }
        return true;
      },
      Duration::seconds(60)))
      << "WAN pool did not federate all four servers";
  EXPECT_EQ(c.status("f1", "s2.shenzhen", true), SerfStatus::kAlive);
  EXPECT_EQ(c.status("s3", "f1.foshan", true), SerfStatus::kAlive);
  // Clients have no WAN pool; the LAN pools stay per datacenter.
  EXPECT_EQ(c.agent("c1")->wan(), nullptr);
  EXPECT_FALSE(c.status("s1", "f1").has_value());
  auto dcs = c.call("c1", http("GET", "/v1/catalog/datacenters"));
  ASSERT_TRUE(dcs);
  EXPECT_EQ(dcs->body, "[\"shenzhen\",\"foshan\"]");  // nearest (our own) first

  // shenzhen | foshan: the WAN sees failures across the cut, then heals to identical lists
  // within 3 WAN push/pull intervals (60 s each) of healing.
  c.world.network().partition_datacenters({"shenzhen"}, {"foshan"});
  ASSERT_TRUE(c.run_until([&] { return c.status("s1", "f1.foshan", true) == SerfStatus::kFailed; },
                          Duration::seconds(120)));
  c.world.network().heal();
  ASSERT_TRUE(c.run_until(
      [&] {
        for (const char* s : {"s1", "s2", "s3", "f1"}) {
          for (const char* m : {"s1.shenzhen", "s2.shenzhen", "s3.shenzhen", "f1.foshan"}) {
            if (c.status(s, m, true) != SerfStatus::kAlive) return false;
          }
        }
        return true;
      },
      Duration::seconds(180)))
      << "WAN member lists did not converge after the partition healed";
}

TEST(GossipAgentSim, ARestartRejoinsFromTheSnapshotUnlessItLeft) {
  Cluster c(15);
  add_shenzhen(c);
  // c3 joins once by hand (no join addresses in its config): only its snapshot can bring it
  // back after a restart.
  c.add({.name = "c3", .address = "127.0.0.7"});
  c.add({.name = "c4", .address = "127.0.0.8", .rejoin_after_leave = true});
  ASSERT_TRUE(c.run_until([&] { return c.status("s1", "c2") == SerfStatus::kAlive; },
                          Duration::seconds(30)));
  for (const char* n : {"c3", "c4"}) {
    auto joined = c.call(n, http("PUT", "/v1/agent/join/127.0.0.2"));
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->status, 200) << joined->body;
  }
  ASSERT_TRUE(c.run_until(
      [&] { return c.all_see("c3", SerfStatus::kAlive) && c.all_see("c4", SerfStatus::kAlive); },
      Duration::seconds(30)));
  c.world.run_for(Duration::seconds(3));  // the member snapshot is written

  // A crash is not a leave: c3 rejoins its old peers from the snapshot, at once (the others'
  // reconnect attempts to failed members come only every 30 s). How fast the others then hear
  // c3's refutation is up to gossip, which is probabilistic: a member that no gossip round
  // happens to pick learns it at its next push/pull. So "at once" is asserted on c3's side.
  c.world.crash("c3");
  ASSERT_TRUE(c.run_until([&] { return c.all_see("c3", SerfStatus::kFailed); }, Duration::seconds(30)));
  const StoredFiles& files = c.world.storage("c3").durable();
  ASSERT_TRUE(files.contains("serf/local.snapshot"));
  EXPECT_NE(to_string(files.at("serf/local.snapshot")).find("alive s1 127.0.0.2:8301\n"),
            std::string::npos);
  c.world.restart("c3");
  auto c3_sees_everyone = [&] {
    for (const auto& spec : c.specs) {
      if (c.status("c3", spec.name) != SerfStatus::kAlive) return false;
    }
    return true;
  };
  ASSERT_TRUE(c.run_until(c3_sees_everyone, Duration::seconds(1)));
  const Duration push_pull = c.agent("c3")->lan()->swim().config().push_pull_interval;
  ASSERT_TRUE(c.run_until([&] { return c.all_see("c3", SerfStatus::kAlive); }, push_pull));

  // After a graceful leave, c3 stays out on restart. (c3 leaves first, so that c4's own
  // snapshot no longer lists it: a peer rejoining from its snapshot would otherwise bring it in.)
  c.world.run_for(Duration::seconds(3));
  c.world.stop("c3", node::StopReason::kLeave);
  ASSERT_TRUE(c.run_until([&] { return c.all_see("c3", SerfStatus::kLeft); }, Duration::seconds(20)));
  c.world.run_for(Duration::seconds(3));
  c.world.restart("c3");
  c.world.run_for(Duration::seconds(10));
  EXPECT_EQ(c.status("s1", "c3"), SerfStatus::kLeft);
  EXPECT_EQ(c.agent("c3")->lan()->members().size(), 1u);
  // c4 (rejoin_after_leave) comes back after its leave.
  c.world.stop("c4", node::StopReason::kLeave);
  ASSERT_TRUE(c.run_until([&] { return c.status("s1", "c4") == SerfStatus::kLeft; },
                          Duration::seconds(20)));
  c.world.run_for(Duration::seconds(3));
  c.world.restart("c4");
  ASSERT_TRUE(c.run_until([&] { return c.status("s1", "c4") == SerfStatus::kAlive; },
                          Duration::seconds(30)));
}

TEST(GossipAgentSim, JoinsThatNobodyAnswersGiveUp) {
  Cluster c(16);
  // retry_max 3 against an address where nobody runs: the agent exits after three attempts.
  c.add({.name = "lonely", .address = "127.0.0.2", .retry_join = {"127.0.0.9"}, .retry_max = 3});
  // start_join must succeed, as in Consul.
  c.add({.name = "eager", .address = "127.0.0.3", .start_join = {"127.0.0.9"}});
  ASSERT_TRUE(c.run_until([&] { return !c.world.is_up("lonely") && !c.world.is_up("eager"); },
                          Duration::seconds(30)));
  // An HTTP join to nowhere fails with a clear error after the join timeout.
  Cluster d(17);
  d.add({.name = "a", .address = "127.0.0.2"});
  d.world.run_for(Duration::seconds(1));
  auto r = d.call("a", http("PUT", "/v1/agent/join/127.0.0.9"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("Failed to join 127.0.0.9:8301"), std::string::npos) << r->body;
  auto bad = d.call("a", http("PUT", "/v1/agent/join/not-an-ip"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

// /v1/event/fire on one agent reaches every agent of the LAN pool through gossip, even with
// 10% of packets lost; a node filter keeps it only on the agents it names; a blocking list on
// another agent wakes when it arrives.
TEST(GossipAgentSim, UserEventsSpreadThroughTheLanPoolAndHonourNodeFilters) {
  Cluster c(21);
  add_shenzhen(c);
  ASSERT_TRUE(c.run_until(
      [&] {
        for (const char* n : {"s1", "s2", "s3", "c1", "c2"}) {
          if (!c.all_see(n, SerfStatus::kAlive)) return false;
        }
        return true;
      },
      Duration::seconds(30)));
  sim::LinkConfig lossy = c.world.network().default_link();
  lossy.loss = 0.1;
  c.world.network().set_default_link(lossy);
  auto list_on = [&](const std::string& agent, const std::string& name) {
    node::HttpRequest get = http("GET", "/v1/event/list");
    get.query = {{"name", name}};
    auto r = c.call(agent, get);
    return r && r->status == 200 ? nlohmann::json::parse(r->body) : nlohmann::json();
  };
  // c2 waits for the first "deploy" (index 0 answers at once; the next call blocks on it).
  node::HttpRequest wait = http("GET", "/v1/event/list");
  const auto first = list_on("c2", "deploy");
  ASSERT_TRUE(first.is_array());
  EXPECT_TRUE(first.empty());
  wait.query = {{"name", "deploy"}, {"index", "1"}, {"wait", "60s"}};
  const RequestId parked = c.world.submit("c2", wait);

  auto fired = c.call("c1", http("PUT", "/v1/event/fire/deploy", "v42"));
  ASSERT_TRUE(fired);
  ASSERT_EQ(fired->status, 200);
  const std::string event_id = nlohmann::json::parse(fired->body)["ID"];
  ASSERT_TRUE(c.run_until(
      [&] {
        for (const char* n : {"s1", "s2", "s3", "c1", "c2"}) {
          const auto l = list_on(n, "deploy");
          if (!l.is_array() || l.size() != 1 || l[0]["ID"] != event_id) return false;
        }
        return true;
      },
      Duration::seconds(10)));
  ASSERT_TRUE(c.run_until(
      [&] { return c.world.reply(parked)->status != sim::ClientReply::Status::kPending; },
      Duration::seconds(5)));
  const auto woken = nlohmann::json::parse(c.world.reply(parked)->response.body);
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken[0]["Payload"], "djQy");  // base64 of "v42"

  // Only the servers keep an event filtered to ^s.
  node::HttpRequest filtered = http("PUT", "/v1/event/fire/restart");
  filtered.query = {{"node", "^s"}};
  auto r = c.call("c2", filtered);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(c.run_until(
      [&] {
        for (const char* n : {"s1", "s2", "s3"}) {
          if (list_on(n, "restart").size() != 1) return false;
        }
        return true;
      },
      Duration::seconds(10)));
  // The clients heard it too (the servers' copies arrived through them or past them) but kept
  // nothing: give gossip the same time again and look.
  c.run_until([] { return false; }, Duration::seconds(5));
  EXPECT_TRUE(list_on("c1", "restart").empty());
  EXPECT_TRUE(list_on("c2", "restart").empty());
}

}  // namespace
}  // namespace praetor
