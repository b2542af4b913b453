// Two datacenters in the simulator (issue 14): shenzhen (three servers, client c1) and foshan
// (server f1, client fc1), federated over the WAN pool. A request naming the other datacenter
// (`?dc=`) goes client -> own server -> a server there (-> its leader) and back, with blocking
// queries intact; DNS answers `<svc>.service.<dc>.consul` from that datacenter; a partition
// shenzhen|foshan gives a clear error within a bounded time while each datacenter keeps serving
// itself, and forwarding works again after it heals. Every agent checks its invariants after
// every input.
//
// PRAETOR_SEED=N runs one seed; PRAETOR_SEEDS=N sets how many; PRAETOR_TRACE=1 echoes the trace.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/base/assert.hpp"
#include "core/node/agent.hpp"
#include "sim/world.hpp"
#include "tests/support/dns_prober.hpp"

namespace praetor {
namespace {

using node::Agent;
using testing::DnsProber;

// A request from a target with its query ("/v1/kv/a?dc=foshan&raw").
node::HttpRequest req(std::string method, std::string_view target, std::string body = "") {
  auto parsed = node::parse_target(target);
  PRAETOR_ASSERT(parsed.has_value());
  node::HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(parsed->path);
  r.query = std::move(parsed->query);
  r.body = std::move(body);
  return r;
}

std::string header(const node::HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

struct Spec {
  std::string name, address, dc;
  bool server = false;
  int expect = 0;
  std::vector<std::string> retry_join = {};
  std::vector<std::string> start_join_wan = {};
};

node::AgentConfig config_of(const Spec& s) {
  node::AgentConfig c;
  c.node_name = s.name;
  c.datacenter = s.dc;
  c.server = s.server;
  c.bootstrap_expect = s.expect;
  c.data_dir = "/data";
  c.bind_addr = s.address;
  c.raft_multiplier = 1;
  c.check_invariants_each_input = true;
  c.retry_join = s.retry_join;
  c.start_join_wan = s.start_join_wan;
  c.retry_interval = Duration::seconds(1);
  return c;
}

class TwoDatacenters {
 public:
  explicit TwoDatacenters(std::uint64_t seed) : world(seed) {
    if (std::getenv("PRAETOR_TRACE") != nullptr) world.trace().set_echo(stderr);
    for (const char* s : {"s1", "s2", "s3"}) {
      const std::string address = fmt::format("127.0.0.{}", s[1] - '0' + 1);
      add({.name = s, .address = address, .dc = "shenzhen", .server = true, .expect = 3,
           .retry_join = {"127.0.0.2"}});
    }
    add({.name = "c1", .address = "127.0.0.5", .dc = "shenzhen", .retry_join = {"127.0.0.3"}});
    add({.name = "f1", .address = "127.0.1.2", .dc = "foshan", .server = true, .expect = 1,
         .start_join_wan = {"127.0.0.2"}});
    add({.name = "fc1", .address = "127.0.1.5", .dc = "foshan", .retry_join = {"127.0.1.2"}});
    // Applications in foshan resolving a shenzhen name at f1 (a server) and at fc1 (a client),
    // and foshan's own servers at f1.
    probe("app-f1", "127.0.1.9", {"127.0.1.2", 8600}, "web.service.shenzhen.consul.");
    probe("app-fc1", "127.0.1.10", {"127.0.1.5", 8600}, "web.service.shenzhen.consul.");
    probe("app-local", "127.0.1.11", {"127.0.1.2", 8600}, "consul.service.consul.");
  }

  void add(const Spec& spec) {
    sim::NodeOptions options;
    options.name = spec.name;
    options.datacenter = spec.dc;
    options.addresses = {spec.address};
    world.add_process(options, [spec] { return std::make_unique<Agent>(config_of(spec)); });
  }

  void probe(const std::string& name, const std::string& address, node::Endpoint agent,
             const std::string& query) {
    sim::NodeOptions options;
    options.name = name;
    options.datacenter = "foshan";
    options.addresses = {address};
    world.add_process(options, [agent, query] {
      return std::make_unique<DnsProber>(agent, query, Duration::milliseconds(200));
    });
  }

  Agent* agent(const std::string& name) { return world.process_as<Agent>(name); }
  DnsProber* prober(const std::string& name) { return world.process_as<DnsProber>(name); }

  bool run_until(const std::function<bool()>& done, Duration within) {
    return world.run_until(done, world.now() + within);
  }

  std::optional<node::HttpResponse> call(const std::string& to, node::HttpRequest request,
                                         Duration within = Duration::seconds(60)) {
    RequestId id = world.submit(to, std::move(request));
    run_until([&] { return world.reply(id)->status != sim::ClientReply::Status::kPending; },
              within);
    const sim::ClientReply* r = world.reply(id);
    if (r->status != sim::ClientReply::Status::kAnswered) return std::nullopt;
    return r->response;
  }

  bool federated() {
    for (const char* s : {"s1", "s2", "s3", "f1"}) {
      Agent* a = agent(s);
      if (a == nullptr || a->wan() == nullptr || a->wan()->members().size() != 4) return false;
      for (const auto& [name, m] : a->wan()->members()) {
        if (m.status != gossip::SerfStatus::kAlive) return false;
      }
    }
    return true;
  }

  bool has_leader(const std::vector<std::string>& servers) {
    for (const auto& s : servers) {
      Agent* a = agent(s);
      if (a != nullptr && a->raft_role() == raft::Role::kLeader) return true;
    }
    return false;
  }

  sim::World world;
};

// Runs the story on one seed; "" when it held, else what went wrong.
std::string run_story(std::uint64_t seed) {
  TwoDatacenters c(seed);
  if (!c.run_until(
          [&] { return c.federated() && c.has_leader({"s1", "s2", "s3"}) && c.has_leader({"f1"}); },
          Duration::seconds(90))) {
    return "the datacenters did not federate with a leader each";
  }
  auto ok = [](const std::optional<node::HttpResponse>& r, int status = 200) {
    return r && r->status == status;
  };
  auto text = [](const std::optional<node::HttpResponse>& r) {
    return r ? fmt::format("{} {}", r->status, r->body) : std::string("no answer");
  };
  // One key, a different value in each datacenter, written locally (retried until the
  // clients have found their servers).
  for (auto [agent, value] : {std::pair{"f1", "foshan-value"}, std::pair{"c1", "shenzhen-value"},
                              std::pair{"fc1", "foshan-value"}}) {
    bool written = false;
    for (int attempt = 0; attempt < 20 && !written; ++attempt) {
      written = ok(c.call(agent, req("PUT", "/v1/kv/where", value)));
      if (!written) c.world.run_for(Duration::seconds(1));
    }
    if (!written) return fmt::format("a local write at {} failed", agent);
  }
  // Reads and writes naming the other datacenter, from clients and servers.
  if (auto r = c.call("c1", req("GET", "/v1/kv/where?dc=foshan&raw")); !ok(r) ||
                                                                       r->body != "foshan-value") {
    return "c1 ?dc=foshan read: " + text(r);
  }
  if (auto r = c.call("fc1", req("GET", "/v1/kv/where?dc=shenzhen&raw"));
      !ok(r) || r->body != "shenzhen-value") {
    return "fc1 ?dc=shenzhen read: " + text(r);
  }
  if (auto r = c.call("s2", req("GET", "/v1/kv/where?dc=foshan&stale&raw"));
      !ok(r) || r->body != "foshan-value") {
    return "s2 ?dc=foshan&stale read: " + text(r);
  }
  // A stale read at a shenzhen follower says how long ago it heard from its leader.
  for (const char* s : {"s1", "s2", "s3"}) {
    if (c.agent(s)->raft_role() == raft::Role::kLeader) continue;
    auto r = c.call(s, req("GET", "/v1/kv/where?stale"));
    if (!ok(r)) return std::string("stale read at ") + s + ": " + text(r);
    const std::string contact = header(*r, "X-Consul-LastContact");
    if (contact.empty() || contact.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(contact) > 1000 || header(*r, "X-Consul-KnownLeader") != "true") {
      return std::string("a follower's stale read: X-Consul-LastContact ") + contact;
    }
  }
  if (auto r = c.call("c1", req("PUT", "/v1/kv/from-shenzhen?dc=foshan", "x"));
      !ok(r) || r->body != "true") {
    return "c1 ?dc=foshan write: " + text(r);
  }
  if (auto r = c.call("f1", req("GET", "/v1/kv/from-shenzhen?raw")); !ok(r) || r->body != "x") {
    return "the write forwarded to foshan is not there: " + text(r);
  }
  if (auto r = c.call("c1", req("GET", "/v1/kv/from-shenzhen")); !ok(r, 404)) {
    return "the write forwarded to foshan showed up in shenzhen: " + text(r);
  }
  if (auto r = c.call("c1", req("GET", "/v1/kv/where?dc=guangzhou")); !ok(r, 500) ||
                                                                      r->body !=
                                                                          "No path to datacenter") {
    return "an unknown datacenter: " + text(r);
  }
  // Nearest first: each side lists its own datacenter, then the other.
  if (auto r = c.call("c1", req("GET", "/v1/catalog/datacenters"));
      !ok(r) || r->body != R"(["shenzhen","foshan"])") {
    return "datacenters at c1: " + text(r);
  }
  if (auto r = c.call("fc1", req("GET", "/v1/catalog/datacenters"));
      !ok(r) || r->body != R"(["foshan","shenzhen"])") {
    return "datacenters at fc1: " + text(r);
  }
  // A blocking query across the WAN parks there and wakes on the write.
  auto first = c.call("c1", req("GET", "/v1/kv/where?dc=foshan"));
  if (!ok(first)) return "index read: " + text(first);
  const std::string index = header(*first, "X-Consul-Index");
  RequestId blocked =
      c.world.submit("c1", req("GET", "/v1/kv/where?dc=foshan&raw&wait=60s&index=" + index));
  c.world.run_for(Duration::seconds(2));
  if (c.world.reply(blocked)->status != sim::ClientReply::Status::kPending) {
    return "the cross-datacenter blocking query did not block";
  }
  if (!ok(c.call("fc1", req("PUT", "/v1/kv/where", "foshan-2")))) return "foshan rewrite failed";
  c.run_until([&] { return c.world.reply(blocked)->status != sim::ClientReply::Status::kPending; },
              Duration::seconds(10));
  if (const auto* r = c.world.reply(blocked);
      r->status != sim::ClientReply::Status::kAnswered || r->response.status != 200 ||
      r->response.body != "foshan-2" ||
      std::stoull(header(r->response, "X-Consul-Index")) <= std::stoull(index)) {
    return "the blocking query did not wake with the new value";
  }
  // DNS: foshan applications resolve a shenzhen service through a foshan server and client.
  if (!ok(c.call("c1", req("PUT", "/v1/catalog/register",
                           R"({"Node":"db1","Address":"10.0.0.7","Service":{"Service":"web"}})")))) {
    return "registering web in shenzhen failed";
  }
  const std::set<std::string> web{"10.0.0.7"};
  if (!c.run_until([&] { return c.prober("app-f1")->latest == web &&
                                c.prober("app-fc1")->latest == web; },
                   Duration::seconds(5))) {
    return "DNS in foshan did not answer web.service.shenzhen.consul";
  }
  // The cut: each datacenter keeps serving itself; the other answers a clear error in bounded
  // time (the WAN pool still shows it alive until gossip's WAN timeouts, so the forward is tried
  // and times out first; once failed, "No path to datacenter" comes at once).
  c.world.network().partition_datacenters({"shenzhen"}, {"foshan"});
  const Instant cut = c.world.now();
  if (auto r = c.call("c1", req("GET", "/v1/kv/where?raw")); !ok(r) || r->body != "shenzhen-value") {
    return "shenzhen's own read during the partition: " + text(r);
  }
  auto cross = c.call("c1", req("GET", "/v1/kv/where?dc=foshan"), Duration::seconds(30));
  if (!ok(cross, 500)) return "?dc=foshan across the cut: " + text(cross);
  std::printf("seed %llu: ?dc=foshan across the cut answered after %s: %s\n",
              static_cast<unsigned long long>(seed),
              fmt::format("{}", c.world.now() - cut).c_str(), cross->body.c_str());
  if (cross->body != "No path to datacenter" &&
      cross->body.find("timeout waiting for an answer from datacenter foshan") == std::string::npos) {
    return "?dc=foshan across the cut, unclear error: " + text(cross);
  }
  // The server's WAN hop gives up after Forwarder::kTimeout; the client waits twice that.
  if (c.world.now() - cut > node::Forwarder::kTimeout + Duration::seconds(1)) {
    return fmt::format("?dc=foshan across the cut took {}", c.world.now() - cut);
  }
  if (!c.run_until([&] { return !c.prober("app-f1")->latest.has_value(); },
                   Duration::seconds(5))) {
    return "DNS at f1 still answered the shenzhen name across the cut";
  }
  const std::set<std::string> f1{"127.0.1.2"};
  if (!c.run_until([&] { return c.prober("app-local")->latest == f1; }, Duration::seconds(1))) {
    return "foshan's own DNS stopped answering during the partition";
  }
  if (auto r = c.call("fc1", req("GET", "/v1/kv/where?raw")); !ok(r) || r->body != "foshan-2") {
    return "foshan's own read during the partition: " + text(r);
  }
  // Healed: forwarding comes back once the WAN pool sees the other side alive again.
  c.world.network().heal();
  if (!c.run_until(
          [&] {
            return c.federated() && c.prober("app-f1")->latest == web &&
                   c.prober("app-fc1")->latest == web;
          },
          Duration::seconds(180))) {
    return "DNS across the WAN did not come back after the heal";
  }
  std::optional<node::HttpResponse> back;
  for (int attempt = 0; attempt < 40 && !(ok(back) && back->body == "foshan-2"); ++attempt) {
    back = c.call("c1", req("GET", "/v1/kv/where?dc=foshan&raw"));
    if (!ok(back)) c.world.run_for(Duration::seconds(1));
  }
  if (!ok(back) || back->body != "foshan-2") return "?dc=foshan after the heal: " + text(back);
  if (!c.world.violations().empty()) return "world violation: " + c.world.violations().front();
  return "";
}

TEST(WanSim, RequestsNamingAnotherDatacenterCrossTheWanAndFailCleanlyWhenCut) {
  std::uint64_t first = 1;
  std::uint64_t count = 3;
  if (const char* n = std::getenv("PRAETOR_SEEDS")) count = std::strtoull(n, nullptr, 10);
  if (const char* one = std::getenv("PRAETOR_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  }
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    const std::string failure = run_story(seed);
    EXPECT_EQ(failure, "") << "seed " << seed << "\nreplay: PRAETOR_SEED=" << seed
                           << " PRAETOR_TRACE=1 build/debug/tests/cluster/wan_sim_test";
  }
}

}  // namespace
}  // namespace praetor
