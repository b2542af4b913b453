// The scenario-file parser (sim/scenario_file.hpp): good files give the model the runner needs,
// bad ones give "file:line: what is wrong" and never crash; every shipped scenario parses.
#include "sim/scenario_file.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/base/rng.hpp"
#ifdef PRAETOR_SIM_HAVE_AGENT
#include "sim/agent_scenario.hpp"
#endif

namespace praetor::sim {
namespace {

constexpr std::string_view kTopology =
    "server s1 127.0.0.2 shenzhen\n"
    "server s2 127.0.0.3 foshan\n"
    "server s3 127.0.0.4 shenzhen\n"
    "client client1 127.0.0.5 shenzhen\n"
    "client client2 127.0.0.6 shenzhen\n";

ScenarioFile parse_ok(const std::string& text) {
  ScenarioParse p = parse_scenario_file(text, "good.scenario");
  std::string errors;
  for (const auto& e : p.errors) errors += e + "\n";
  EXPECT_TRUE(p.scenario.has_value()) << errors;
  return p.scenario.value_or(ScenarioFile{});
}

// The errors for `body` appended to the seed topology (whose 5 lines come first).
std::vector<std::string> errors_of(const std::string& body) {
  ScenarioParse p = parse_scenario_file(std::string(kTopology) + body, "bad.scenario");
  EXPECT_FALSE(p.scenario.has_value());
  return p.errors;
}

std::string first_error(const std::string& body) {
  auto e = errors_of(body);
  return e.empty() ? std::string("(no error)") : e.front();
}

TEST(ScenarioFileTest, ParsesDurations) {
  EXPECT_EQ(parse_scenario_duration("30s"), Duration::seconds(30));
  EXPECT_EQ(parse_scenario_duration("1.5s"), Duration::milliseconds(1500));
  EXPECT_EQ(parse_scenario_duration("500ms"), Duration::milliseconds(500));
  EXPECT_EQ(parse_scenario_duration("1m30s"), Duration::seconds(90));
  EXPECT_EQ(parse_scenario_duration("2h"), Duration::hours(2));
  EXPECT_EQ(parse_scenario_duration("250us"), Duration::microseconds(250));
  EXPECT_EQ(parse_scenario_duration("0.001ms"), Duration::nanoseconds(1000));
  for (const char* bad : {"", "s", "10", "10x", "-1s", "1..2s", "1.s", ".s", "1.0000000001s",
                          "99999999999999h", "1s2", "10S"}) {
    EXPECT_FALSE(parse_scenario_duration(bad).has_value()) << bad;
  }
}

TEST(ScenarioFileTest, AGoodFileGivesTheWholeModel) {
  ScenarioFile f = parse_ok(
      std::string("# a comment line\n"
                  "scenario demo   # trailing comment\n"
                  "description the \"seed\" story, shortened\n"
                  "duration 1m\n"
                  "raft-multiplier 2\n"
                  "retry-interval 500ms\n"
                  "invariants off\n") +
      std::string(kTopology) +
      "join lan s1 s3 client1 client2 -> s1 s3\n"
      "join wan s1 s2 s3 -> s1 s2 s3\n"
      "service w-3333-mysql-test role master port 3333 interval 3s tag master-test-3333 on "
      "client1 client2\n"
      "service r-3333-mysql-test role replica port 3333 on client1 client2\n"
      "master client1\n"
      "kv client1 every 150ms keys 4 reads 30% prefix app/ timeout 2s from 3s\n"
      "dns s2 redis.service.consul every 50ms\n"
      "\n"
      "at 40s heal\n"
      "at 30s partition shenzhen|foshan\n"
      "at 30s flip client2\n"
      "at 31s kill leader shenzhen for 3s\n"
      "at 32s crash client1 for 1s\n"
      "at 33s restart client1\n"
      "at 34s skew s3 -2s\n"
      "at 34s drift s3 +200ppm\n"
      "at 35s loss 5.5%\n"
      "at 36s rolling-restart shenzhen down 1s every 5s crash\n"
      "at 37s register s2 redis port 6379\n"
      "at 38s db-down client2\n"
      "at 39s partition s1, client1 | s3\n"
      "expect failover w-3333-mysql-test at client1 within interval+2s\n"
      "expect failover w-3333-mysql-test at client2 within 1s + interval + 500ms\n"
      "expect linearizable\n"
      "expect no-lost-writes\n"
      "expect serving foshan during partition min 95%\n"
      "expect leader shenzhen within 8s\n"
      "expect wan-alive within 10s after heal\n"
      "expect-cross-dc w-3333-mysql-test.service.shenzhen.consul at s2 every 200ms "
      "answer-within 12s servfail-within 4s\n");
  EXPECT_EQ(f.name, "demo");
  EXPECT_EQ(f.description, "the seed story, shortened");
  EXPECT_EQ(f.duration, Duration::seconds(60));
  EXPECT_EQ(f.raft_multiplier, 2);
  EXPECT_EQ(f.retry_interval, Duration::milliseconds(500));
  EXPECT_FALSE(f.invariants);
  ASSERT_EQ(f.nodes.size(), 5u);
  EXPECT_EQ(f.datacenters(), (std::vector<std::string>{"shenzhen", "foshan"}));
  EXPECT_EQ(f.servers_in("shenzhen").size(), 2u);
  EXPECT_EQ(f.node("client1")->retry_join, (std::vector<std::string>{"s1", "s3"}));
  EXPECT_EQ(f.node("s2")->retry_join_wan, (std::vector<std::string>{"s1", "s2", "s3"}));
  EXPECT_TRUE(f.node("client1")->retry_join_wan.empty());
  ASSERT_EQ(f.services.size(), 2u);
  EXPECT_EQ(f.services[0].interval, Duration::seconds(3));
  EXPECT_EQ(f.services[0].tags, (std::vector<std::string>{"master-test-3333"}));
  EXPECT_EQ(f.services[1].role, FileService::Role::kReplica);
  EXPECT_EQ(f.services[1].interval, Duration::seconds(5));  // the default
  EXPECT_EQ(f.initial_master, "client1");
  ASSERT_EQ(f.kv.size(), 1u);
  EXPECT_EQ(f.kv[0].keys, 4u);
  EXPECT_EQ(f.kv[0].read_percent, 30);
  EXPECT_EQ(f.kv[0].timeout, Duration::seconds(2));
  EXPECT_EQ(f.kv[0].from, Duration::seconds(3));
  ASSERT_EQ(f.dns.size(), 1u);
  EXPECT_EQ(f.dns[0].every, Duration::milliseconds(50));

  // Actions come out in time order; equal times keep the file's order.
  ASSERT_EQ(f.actions.size(), 13u);
  EXPECT_EQ(f.actions[0].kind, FileAction::Kind::kPartition);
  EXPECT_EQ(f.actions[0].sides, (std::vector<std::vector<std::string>>{{"shenzhen"}, {"foshan"}}));
  EXPECT_EQ(f.actions[1].kind, FileAction::Kind::kFlip);
  EXPECT_EQ(f.actions[2].kind, FileAction::Kind::kKillLeader);
  EXPECT_EQ(f.actions[2].duration, Duration::seconds(3));
  EXPECT_EQ(f.actions[5].amount, Duration::zero() - Duration::seconds(2));
  EXPECT_EQ(f.actions[6].ppm, 200);
  EXPECT_DOUBLE_EQ(f.actions[7].percent, 5.5);
  EXPECT_TRUE(f.actions[8].crash);
  EXPECT_EQ(f.actions[8].every, Duration::seconds(5));
  EXPECT_EQ(f.actions[9].port, 6379);
  EXPECT_EQ(f.actions[11].sides,
            (std::vector<std::vector<std::string>>{{"s1", "client1"}, {"s3"}}));
  EXPECT_EQ(f.actions[12].kind, FileAction::Kind::kHeal);

  ASSERT_EQ(f.expectations.size(), 8u);
  EXPECT_EQ(f.expectations[0].bound.resolve(Duration::seconds(3)), Duration::seconds(5));
  EXPECT_EQ(f.expectations[1].bound.resolve(Duration::seconds(3)), Duration::milliseconds(4500));
  EXPECT_EQ(f.expectations[4].min_percent, 95);
  EXPECT_EQ(f.expectations[7].kind, FileExpectation::Kind::kCrossDc);
  EXPECT_EQ(f.expectations[7].name, "w-3333-mysql-test.service.shenzhen.consul");
  EXPECT_EQ(f.expectations[7].bound.fixed, Duration::seconds(12));
  EXPECT_EQ(f.expectations[7].servfail_bound, Duration::seconds(4));
  EXPECT_EQ(f.expectations[7].every, Duration::milliseconds(200));
}

TEST(ScenarioFileTest, ErrorsNameTheFileTheLineAndWhatIsWrong) {
  // Line 6 is the first after the topology.
  EXPECT_EQ(first_error("explode now\n"),
            "bad.scenario:6: unknown directive 'explode' (expected scenario, description, "
            "duration, server, client, join, service, master, kv, dns, at, expect, "
            "expect-cross-dc, raft-multiplier, retry-interval or invariants)");
  EXPECT_EQ(first_error("\n\nat 10s explode\n"),
            "bad.scenario:8: unknown action 'explode' (flip, db-down, db-up, partition, heal, "
            "kill leader, crash, restart, stop, skew, drift, loss, rolling-restart, register, "
            "deregister)");
  EXPECT_EQ(first_error("duration ten\n"),
            "bad.scenario:6: duration: 'ten' is not a duration (like 500ms, 2s, 1m30s)");
  EXPECT_EQ(first_error("at 10s crash\n"), "bad.scenario:6: expected a node after 'crash'");
  EXPECT_EQ(first_error("at 10s crash nobody\n"), "bad.scenario:6: no node named 'nobody'");
  EXPECT_EQ(first_error("at 10s heal now\n"), "bad.scenario:6: unexpected 'now'");
  EXPECT_EQ(first_error("at 10s loss 120%\n"),
            "bad.scenario:6: loss: '120%' is not a percentage from 0% to 100%");
  EXPECT_EQ(first_error("at 10s loss 5\n"),
            "bad.scenario:6: loss: '5' is not a percentage from 0% to 100%");
  EXPECT_EQ(first_error("at 10s partition shenzhen\n"),
            "bad.scenario:6: partition: expected two sides, like 'shenzhen|foshan' or "
            "'s1,client1 | s3'");
  EXPECT_EQ(first_error("at 10s partition shenzhen|mars\n"),
            "bad.scenario:6: partition: 'mars' is neither a datacenter nor a node");
  EXPECT_EQ(first_error("at 10s kill s1\n"),
            "bad.scenario:6: kill: expected 'leader DATACENTER' (use crash NODE for a node), not "
            "'s1'");
  EXPECT_EQ(first_error("at 10s kill leader mars\n"), "bad.scenario:6: no datacenter named 'mars'");
  EXPECT_EQ(first_error("at 99s heal\n"),
            "bad.scenario:6: this action comes after the end of the run (duration 60s)");
  EXPECT_EQ(first_error("at 10s skew s3 2 seconds\n"),
            "bad.scenario:6: skew: '2' is not a duration (like +2s or -500ms)");
  EXPECT_EQ(first_error("at 10s drift s3 fast\n"),
            "bad.scenario:6: drift: 'fast' is not a rate like +200ppm (at most 100000ppm)");
  EXPECT_EQ(first_error("at 10s rolling-restart shenzhen down 5s every 5s\n"),
            "bad.scenario:6: rolling-restart: 'down' must be shorter than 'every' (one server at "
            "a time)");
  EXPECT_EQ(first_error("server s9 127.0.0.300 shenzhen\n"),
            "bad.scenario:6: '127.0.0.300' is not an IPv4 address");
  EXPECT_EQ(first_error("client s1 127.0.0.9 shenzhen\n"),
            "bad.scenario:6: node 's1' is declared twice");
  EXPECT_EQ(first_error("client c3 127.0.0.2 shenzhen\n"),
            "bad.scenario:6: address 127.0.0.2 is already s1's");
  EXPECT_EQ(first_error("client c3 127.0.0.9 mars\n"),
            "bad.scenario: datacenter 'mars' has clients but no servers");
  EXPECT_EQ(first_error("join wan client1 -> s1\n"),
            "bad.scenario:6: join wan: 'client1' is a client; only servers join the WAN");
  EXPECT_EQ(first_error("join lan client1 s1\n"),
            "bad.scenario:6: join: expected 'NODE... -> NODE...'");
  EXPECT_EQ(first_error("join lan client1 -> ghost\n"), "bad.scenario:6: no node named 'ghost'");
  EXPECT_EQ(first_error("service w role master on s1\nmaster s1\n"),
            "bad.scenario:6: service on 's1': services live on client agents");
  EXPECT_EQ(first_error("service w port 1 on client1\nmaster client1\n"),
            "bad.scenario:6: service: missing 'role master|replica'");
  EXPECT_EQ(first_error("service w role boss on client1\n"),
            "bad.scenario:6: service role: expected master or replica, not 'boss'");
  EXPECT_EQ(first_error("service w role master on client1\n"),
            "bad.scenario: services need a 'master NODE' line: the host whose checks say master "
            "at the start");
  EXPECT_EQ(first_error("service w role master port 70000 on client1\n"),
            "bad.scenario:6: port: '70000' is not a whole number from 1 to 65535");
  EXPECT_EQ(first_error("kv client1 every 1s keys 0\n"),
            "bad.scenario:6: keys: '0' is not a whole number from 1 to 1000");
  EXPECT_EQ(first_error("kv client1 every\n"), "bad.scenario:6: expected a duration after 'every'");
  EXPECT_EQ(first_error("dns client1\n"), "bad.scenario:6: expected a DNS name after 'client1'");
  EXPECT_EQ(first_error("description \"unterminated\n"), "bad.scenario:6: unterminated quote");
  EXPECT_EQ(first_error("expect miracles\n"),
            "bad.scenario:6: unknown expectation 'miracles' (failover, linearizable, "
            "no-lost-writes, serving, leader, wan-alive; cross-datacenter DNS is expect-cross-dc)");
  EXPECT_EQ(first_error("expect failover w at client1 within 5s\n"),
            "bad.scenario:6: no service named 'w'");
  EXPECT_EQ(first_error("service r role replica on client1\nmaster client1\n"
                        "expect failover r at client1 within 5s\n"),
            "bad.scenario:8: failover: 'r' is not a 'role master' service");
  EXPECT_EQ(first_error("service w role master on client1\nmaster client1\n"
                        "expect failover w at client1 within interval +\n"),
            "bad.scenario:8: failover: expected a bound like 7s or 'interval + 2s'");
  EXPECT_EQ(first_error("service w role master on client1\nmaster client1\n"
                        "expect failover w at client1 within 2s 3s\n"),
            "bad.scenario:8: failover: expected '+' before '3s'");
  EXPECT_EQ(first_error("expect leader shenzhen within interval\n"),
            "bad.scenario:6: 'interval' only means something in a failover bound (the service's "
            "check interval)");
  EXPECT_EQ(first_error("expect serving shenzhen during partition\n"),
            "bad.scenario:6: expect serving: the timeline has no partition");
  EXPECT_EQ(first_error("expect wan-alive within 5s\n"), "bad.scenario:6: expected 'after'");
  EXPECT_EQ(first_error("expect-cross-dc x.service.shenzhen.consul at s2 soon\n"),
            "bad.scenario:6: expect-cross-dc: unknown option 'soon' (every, answer-within, "
            "servfail-within)");
}

TEST(ScenarioFileTest, ReportsEveryErrorInLineOrderUpToACap) {
  auto errors = errors_of("bogus\nat 1s heal\nat 2s flip\nduration x\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].substr(0, 15), "bad.scenario:6:");
  EXPECT_EQ(errors[1].substr(0, 15), "bad.scenario:8:");
  EXPECT_EQ(errors[2].substr(0, 15), "bad.scenario:9:");
  std::string many;
  for (int i = 0; i < 50; ++i) many += "nonsense\n";
  EXPECT_EQ(errors_of(many).size(), 20u);
}

TEST(ScenarioFileTest, EmptyAndMissingFilesAreErrorsNotCrashes) {
  ScenarioParse empty = parse_scenario_file("", "empty.scenario");
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_EQ(empty.errors[0],
            "empty.scenario: no nodes: declare at least one 'server NAME ADDRESS DATACENTER'");
  ScenarioParse missing = read_scenario_file("/nonexistent/dir/x.scenario");
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0], "/nonexistent/dir/x.scenario: cannot read the file");
}

// Random bytes and random recombinations of real lines: the parser answers, never crashes.
TEST(ScenarioFileTest, GarbageNeverCrashesTheParser) {
  const std::vector<std::string> words = {"at",
                                          "10s",
                                          "expect",
                                          "failover",
                                          "within",
                                          "interval",
                                          "+",
                                          "|",
                                          "->",
                                          "join",
                                          "lan",
                                          "wan",
                                          "s1",
                                          "client1",
                                          "shenzhen",
                                          "\"",
                                          "#",
                                          "kill",
                                          "leader",
                                          "partition",
                                          "service",
                                          "role",
                                          "master",
                                          "on",
                                          "kv",
                                          "every",
                                          "dns",
                                          "%",
                                          "5%",
                                          "-",
                                          "\t",
                                          "\n",
                                          "server",
                                          "127.0.0.9",
                                          "rolling-restart",
                                          "down",
                                          "1s",
                                          "for",
                                          "expect-cross-dc",
                                          "min"};
  Rng rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string text(kTopology);
    const std::size_t n = rng.uniform(40);
    for (std::size_t i = 0; i < n; ++i) {
      if (rng.chance(1, 10)) {
        text += static_cast<char>(rng.uniform(256));
      } else {
        text += words[rng.uniform(words.size())];
        text += rng.chance(1, 5) ? "\n" : " ";
      }
    }
    ScenarioParse p = parse_scenario_file(text, "fuzz.scenario");
    EXPECT_NE(p.scenario.has_value(), !p.errors.empty()) << text;
  }
}

#ifdef PRAETOR_SCENARIOS_DIR
TEST(ScenarioFileTest, TheShippedScenariosParse) {
  for (const char* name :
       {"mysql-master-failover", "dc-partition", "leader-crash-during-writes", "rolling-restart"}) {
    ScenarioParse p =
        read_scenario_file(std::string(PRAETOR_SCENARIOS_DIR) + "/" + name + ".scenario");
    std::string errors;
    for (const auto& e : p.errors) errors += e + "\n";
    ASSERT_TRUE(p.scenario.has_value()) << errors;
    EXPECT_EQ(p.scenario->name, name);
    EXPECT_FALSE(p.scenario->expectations.empty()) << name;
  }
}
#endif

#ifdef PRAETOR_SIM_HAVE_AGENT
// The runner's own checks must be able to fail: impossible bounds are reported with reasons, and
// the same seed gives the same trace whether or not the timeline is kept.
constexpr std::string_view kFlipStory =
    "duration 16s\n"
    "join lan s1 s3 client1 client2 -> s1 s3\n"
    "service w role master port 3306 interval 2s on client1 client2\n"
    "master client1\n"
    "kv client2 every 200ms keys 2 reads 30%\n"
    "at 8s flip client2\n"
    "at 9s kill leader shenzhen for 3s\n"
    "expect linearizable\n"
    "expect no-lost-writes\n";

FileRunResult run_text(const std::string& extra, std::uint64_t seed, bool keep) {
  ScenarioFile f = parse_ok(std::string(kTopology) + std::string(kFlipStory) + extra);
  ScenarioOptions o;
  o.seed = seed;
  return run_scenario_file(f, o, keep);
}

std::string reasons(const ScenarioResult& r) {
  std::string out;
  for (const auto& f : r.failures) out += f + "\n";
  return out;
}

KvOp put(std::string key, std::string value, std::int64_t call_ms, std::int64_t ret_ms,
         KvOp::Outcome outcome = KvOp::Outcome::kOk) {
  KvOp op;
  op.kind = KvOp::Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.call = Instant::zero() + Duration::milliseconds(call_ms);
  op.ret = Instant::zero() + Duration::milliseconds(ret_ms);
  op.outcome = outcome;
  return op;
}

std::vector<std::string> lost(const std::vector<KvOp>& history, std::optional<std::string> value,
                              std::int64_t read_ms = 1000) {
  std::size_t acknowledged = 0;
  std::map<std::string, FinalRead> finals;
  finals["dc/k"] = FinalRead{std::move(value), Instant::zero() + Duration::milliseconds(read_ms)};
  return check_no_lost_writes(history, finals, acknowledged);
}

TEST(ScenarioFileRunTest, NoLostWritesJudgesByRealTimeOrder) {
  const std::vector<KvOp> h = {put("dc/k", "a", 0, 10), put("dc/k", "b", 20, 30),
                               put("dc/k", "c", 25, 40, KvOp::Outcome::kUnknown),
                               put("dc/k", "d", 35, 50), put("dc/k", "late", 990, 1010)};
  EXPECT_TRUE(lost(h, "d").empty());
  EXPECT_TRUE(lost(h, "late").empty());
  // c's outcome is unknown: it may have been applied after d.
  EXPECT_TRUE(lost(h, "c").empty());
  // b was acknowledged before d began: d is lost.
  auto r = lost(h, "b");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(
      r[0],
      "no-lost-writes: acknowledged PUT dc/k=d (t=0.035..t=0.050) is lost: the key ends with b "
      "(acknowledged at t=0.030)");
  EXPECT_EQ(lost(h, std::nullopt).size(), 1u);
  EXPECT_EQ(lost(h, "zzz")[0], "no-lost-writes: dc/k holds \"zzz\", which no client wrote");
  // A write acknowledged after the final read began need not be visible to it.
  EXPECT_TRUE(lost({put("dc/k", "a", 0, 10), put("dc/k", "b", 990, 1010)}, "a").empty());
  EXPECT_EQ(lost({put("dc/k", "a", 0, 10), put("dc/k", "b", 900, 950)}, "a").size(), 1u);
}

TEST(ScenarioFileRunTest, PassesWithRealisticBoundsAndReplaysExactly) {
  // The flip needs a commit: shenzhen has no quorum until the killed leader is back (3 s) and
  // an election is done, so the bound is that on top of one check interval.
  const std::string extra =
      "expect failover w at client1 within interval + 6s\nexpect leader shenzhen within 8s\n";
  FileRunResult kept = run_text(extra, 3, true);
  EXPECT_TRUE(kept.result.pass) << reasons(kept.result);
  EXPECT_FALSE(kept.timeline.empty());
  FileRunResult quiet = run_text(extra, 3, false);
  EXPECT_TRUE(quiet.timeline.empty());
  EXPECT_EQ(kept.result.trace_hash, quiet.result.trace_hash);
  EXPECT_NE(run_text(extra, 4, false).result.trace_hash, kept.result.trace_hash);
  ASSERT_TRUE(kept.worst.contains("failover w at client1"));
  ASSERT_TRUE(kept.worst.contains("leaderless shenzhen"));
  EXPECT_GE(kept.worst["leaderless shenzhen"], Duration::seconds(3));  // the restart
}

TEST(ScenarioFileRunTest, ImpossibleBoundsFailWithReasons) {
  FileRunResult r = run_text(
      "expect failover w at client1 within 50ms\nexpect leader shenzhen within 1s\n", 3, false);
  EXPECT_FALSE(r.result.pass);
  const std::string why = reasons(r.result);
  EXPECT_NE(why.find("failover w at client1: flip client1 -> client2 at t=8.000: DNS did not "
                     "answer 127.0.0.6 alone within 0.050s"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("leader shenzhen: none from t=9.000"), std::string::npos) << why;
}
#endif

}  // namespace
}  // namespace praetor::sim
