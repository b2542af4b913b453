// The agent driven directly through the Process interface with a recording Env: every effect
// is data the test inspects. (Whole-system runs under faults are in tests/sim.)
#include "core/node/agent.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/support/log_injection.hpp"
#include "tests/support/recording_env.hpp"

namespace praetor::node {
namespace {

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AgentConfig config = dev_defaults();
    config.check_invariants_each_input = true;
    start(config);
  }

  void start(AgentConfig config) {
    agent_ = std::make_unique<Agent>(std::move(config));
    env_value_ = std::make_unique<Env>(rec_.env());
    agent_->start(*env_value_);
  }

  // Sends a request; returns its id. The reply, if any, is in rec_.responses.
  RequestId send(std::string method, std::string target, std::string body = "") {
    auto parsed = parse_target(target);
    EXPECT_TRUE(parsed) << target;
    HttpRequest r;
    r.method = std::move(method);
    r.path = parsed->path;
    r.raw_path = parsed->raw_path;
    r.query = parsed->query;
    r.body = std::move(body);
    RequestId id(next_id_++);
    agent_->on_client_request(id, std::move(r));
    agent_->check_invariants();
    return id;
  }

  HttpResponse call(std::string method, std::string target, std::string body = "") {
    RequestId id = send(std::move(method), std::move(target), std::move(body));
    auto it = rec_.responses.find(id);
    EXPECT_NE(it, rec_.responses.end()) << "no response";
    return it == rec_.responses.end() ? HttpResponse{} : it->second;
  }

  RecordingEnv rec_;
  std::unique_ptr<Env> env_value_;
  std::unique_ptr<Agent> agent_;
  std::uint64_t next_id_ = 1;
};

TEST_F(AgentTest, DevAgentLeadsAtOnce) {
  auto r = call("GET", "/v1/status/leader");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"127.0.0.1:8300\"");
  EXPECT_EQ(r.header("X-Consul-KnownLeader"), "true");
  EXPECT_EQ(call("GET", "/v1/status/peers").body, "[\"127.0.0.1:8300\"]");
}

TEST_F(AgentTest, PutThenGetRawAndJson) {
  auto put = call("PUT", "/v1/kv/a", "hi");
  EXPECT_EQ(put.status, 200);
  EXPECT_EQ(put.body, "true");
  auto raw = call("GET", "/v1/kv/a?raw");
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body, "hi");
  auto j = nlohmann::json::parse(call("GET", "/v1/kv/a").body);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["Key"], "a");
  EXPECT_EQ(j[0]["Value"], "aGk=");
  EXPECT_EQ(j[0]["Flags"], 0);
  EXPECT_FALSE(j[0].contains("Session"));
  EXPECT_EQ(j[0]["CreateIndex"], j[0]["ModifyIndex"]);
}

TEST_F(AgentTest, EveryKvReplyCarriesAnIndexEvenA404) {
  auto missing = call("GET", "/v1/kv/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "");
  ASSERT_TRUE(missing.header("X-Consul-Index"));
  EXPECT_GE(std::stoull(*missing.header("X-Consul-Index")), 1u);
  call("PUT", "/v1/kv/x", "1");
  auto after = call("GET", "/v1/kv/nope");
  EXPECT_GT(std::stoull(*after.header("X-Consul-Index")),
            std::stoull(*missing.header("X-Consul-Index")));
}

TEST_F(AgentTest, EmptyBodyStoresNullValue) {
  call("PUT", "/v1/kv/empty", "");
  auto j = nlohmann::json::parse(call("GET", "/v1/kv/empty").body);
  EXPECT_TRUE(j[0]["Value"].is_null());
}

TEST_F(AgentTest, FlagsAreStored) {
  call("PUT", "/v1/kv/f?flags=42", "v");
  auto j = nlohmann::json::parse(call("GET", "/v1/kv/f").body);
  EXPECT_EQ(j[0]["Flags"], 42);
  EXPECT_EQ(call("PUT", "/v1/kv/f?flags=abc", "v").status, 400);
}

TEST_F(AgentTest, CasCreatesOnlyOnceAndThenNeedsTheModifyIndex) {
  EXPECT_EQ(call("PUT", "/v1/kv/c?cas=0", "1").body, "true");
  EXPECT_EQ(call("PUT", "/v1/kv/c?cas=0", "2").body, "false");
  auto j = nlohmann::json::parse(call("GET", "/v1/kv/c").body);
  const std::uint64_t modify = j[0]["ModifyIndex"];
  EXPECT_EQ(call("PUT", fmt::format("/v1/kv/c?cas={}", modify + 100), "3").body, "false");
  EXPECT_EQ(call("PUT", fmt::format("/v1/kv/c?cas={}", modify), "3").body, "true");
  EXPECT_EQ(call("GET", "/v1/kv/c?raw").body, "3");
  EXPECT_EQ(call("PUT", "/v1/kv/c?cas=x", "3").status, 400);
}

TEST_F(AgentTest, RecurseKeysAndSeparator) {
  for (auto k : {"base/base/a", "base/base/b", "base/foo", "other"}) call("PUT", fmt::format("/v1/kv/{}", k), "v");
  auto all = nlohmann::json::parse(call("GET", "/v1/kv/base/?recurse").body);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]["Key"], "base/base/a");
  EXPECT_EQ(call("GET", "/v1/kv/base/?keys&separator=/").body, "[\"base/base/\",\"base/foo\"]");
  EXPECT_EQ(call("GET", "/v1/kv/zzz/?recurse").status, 404);
  EXPECT_EQ(call("GET", "/v1/kv/zzz/?keys").status, 404);
  EXPECT_EQ(call("GET", "/v1/kv/?keys").status, 200);
  // Presence-based flag: recurse=false still recurses.
  EXPECT_EQ(nlohmann::json::parse(call("GET", "/v1/kv/base/?recurse=false").body).size(), 3u);
}

TEST_F(AgentTest, DeleteVariants) {
  for (auto k : {"d/1", "d/2", "e"}) call("PUT", fmt::format("/v1/kv/{}", k), "v");
  EXPECT_EQ(call("DELETE", "/v1/kv/e").body, "true");
  EXPECT_EQ(call("GET", "/v1/kv/e").status, 404);
  EXPECT_EQ(call("DELETE", "/v1/kv/d/1?cas=0").body, "false");
  EXPECT_EQ(call("GET", "/v1/kv/d/1").status, 200);
  EXPECT_EQ(call("DELETE", "/v1/kv/d/?recurse").body, "true");
  EXPECT_EQ(call("GET", "/v1/kv/d/?recurse").status, 404);
  call("PUT", "/v1/kv/z", "v");
  EXPECT_EQ(call("DELETE", "/v1/kv/?recurse").body, "true");
  EXPECT_EQ(call("GET", "/v1/kv/?recurse").status, 404);
}

TEST_F(AgentTest, BadRequestsGetClearErrors) {
  auto conflicting = call("GET", "/v1/kv/a?stale&consistent");
  EXPECT_EQ(conflicting.status, 400);
  EXPECT_NE(conflicting.body.find("conflicting"), std::string::npos);
  EXPECT_EQ(call("PUT", "/v1/kv/", "v").status, 400);
  EXPECT_EQ(call("PUT", "/v1/kv/a?cas=1&acquire=s", "v").status, 400);
  EXPECT_EQ(call("PATCH", "/v1/kv/a").status, 405);
  EXPECT_EQ(call("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(call("POST", "/v1/status/leader").status, 405);
  EXPECT_EQ(call("GET", "/v1/kv/a?index=abc").status, 400);
  EXPECT_EQ(call("GET", "/v1/kv/a?index=1&wait=forever").status, 400);
  auto other_dc = call("GET", "/v1/kv/a?dc=foshan");
  EXPECT_EQ(other_dc.status, 500);
  EXPECT_EQ(other_dc.body, "No path to datacenter");
  auto big = call("PUT", "/v1/kv/big", std::string(512 * 1024 + 1, 'x'));
  EXPECT_EQ(big.status, 413);
}

TEST_F(AgentTest, AcquireWithUnknownSessionIsConsulsError) {
  auto r = call("PUT", "/v1/kv/lock?acquire=abc", "v");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "invalid session \"abc\"");
}

TEST_F(AgentTest, BlockingQueryWakesOnWrite) {
  call("PUT", "/v1/kv/w", "1");
  auto first = call("GET", "/v1/kv/w");
  const std::string index = *first.header("X-Consul-Index");
  RequestId parked = send("GET", fmt::format("/v1/kv/w?index={}&wait=30s", index));
  EXPECT_FALSE(rec_.responses.contains(parked));
  EXPECT_EQ(agent_->parked_requests(), 1u);
  EXPECT_LT(rec_.wake, Instant::never());
  call("PUT", "/v1/kv/w", "2");
  ASSERT_TRUE(rec_.responses.contains(parked));
  auto j = nlohmann::json::parse(rec_.responses[parked].body);
  EXPECT_EQ(j[0]["Value"], "Mg==");
  EXPECT_GT(std::stoull(*rec_.responses[parked].header("X-Consul-Index")), std::stoull(index));
  EXPECT_EQ(agent_->parked_requests(), 0u);
}

TEST_F(AgentTest, BlockingQueryTimesOutWithTheSameIndex) {
  call("PUT", "/v1/kv/t", "1");
  const std::string index = *call("GET", "/v1/kv/t").header("X-Consul-Index");
  const Instant asked = rec_.now_;
  RequestId parked = send("GET", fmt::format("/v1/kv/t?index={}&wait=2s", index));
  ASSERT_FALSE(rec_.responses.contains(parked));
  // Follow the agent's timer (Raft heartbeats wake it too) until the query answers.
  Instant answered = Instant::never();
  for (int i = 0; i < 1000 && answered.is_never(); ++i) {
    ASSERT_LT(rec_.wake, Instant::never());
    ASSERT_GE(rec_.wake, rec_.now_);
    rec_.now_ = rec_.wake;
    agent_->on_wake(rec_.now_);
    agent_->check_invariants();
    if (rec_.responses.contains(parked)) answered = rec_.now_;
  }
  ASSERT_FALSE(answered.is_never());
  EXPECT_GE(answered - asked, Duration::seconds(2));
  EXPECT_LE(answered - asked, Duration::seconds(2) + Duration::seconds(2) / 16);
  EXPECT_EQ(*rec_.responses[parked].header("X-Consul-Index"), index);
  EXPECT_EQ(agent_->parked_requests(), 0u);
}

TEST_F(AgentTest, EarlyWakeUpsAreHarmless) {
  call("PUT", "/v1/kv/t", "1");
  const std::string index = *call("GET", "/v1/kv/t").header("X-Consul-Index");
  RequestId parked = send("GET", fmt::format("/v1/kv/t?index={}&wait=10s", index));
  agent_->on_wake(rec_.now_);
  agent_->on_wake(rec_.now_ + Duration::milliseconds(1));
  EXPECT_FALSE(rec_.responses.contains(parked));
  EXPECT_EQ(agent_->parked_requests(), 1u);
}

TEST_F(AgentTest, IndexBehindTheStoreAnswersAtOnce) {
  call("PUT", "/v1/kv/i", "1");
  call("PUT", "/v1/kv/i", "2");
  RequestId id = send("GET", "/v1/kv/i?index=1");
  EXPECT_TRUE(rec_.responses.contains(id));
}

TEST_F(AgentTest, AgentSelfHasConsulsSixKeys) {
  auto j = nlohmann::json::parse(call("GET", "/v1/agent/self").body);
  std::vector<std::string> keys;
  for (auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"Config", "Coord", "DebugConfig", "Member", "Meta",
                                            "Stats"}));
  EXPECT_EQ(j["Config"]["Server"], true);
  EXPECT_EQ(j["Config"]["Datacenter"], "dc1");
  EXPECT_EQ(j["Stats"]["consul"]["leader_addr"], "127.0.0.1:8300");
  EXPECT_EQ(j["Stats"]["consul"]["acl"], "disabled");
  EXPECT_FALSE(j["Stats"]["agent"].contains("security_warning"));  // loopback only
  // What is served, as the banner says: DNS on its default port.
  EXPECT_EQ(j["DebugConfig"]["DNSPort"], served_dns_port(agent_->config()));
  EXPECT_EQ(j["DebugConfig"]["DNSPort"], 8600);
  auto members = nlohmann::json::parse(call("GET", "/v1/agent/members").body);
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0], j["Member"]);
}

// `praetor info` prints Stats: an HTTP API beyond loopback without ACLs shows there.
class ExposedAgentTest : public AgentTest {
 protected:
  void SetUp() override {
    config_ = dev_defaults();
    config_.client_addr = {"0.0.0.0"};
    start(config_);
  }
  AgentConfig config_;
};

TEST_F(ExposedAgentTest, StatsCarryTheNoAclWarning) {
  auto j = nlohmann::json::parse(call("GET", "/v1/agent/self").body);
  ASSERT_TRUE(j["Stats"]["agent"].contains("security_warning")) << j["Stats"].dump();
  EXPECT_EQ(j["Stats"]["agent"]["security_warning"], unprotected_api_warning(config_));
  EXPECT_NE(j["Stats"]["agent"]["security_warning"].get<std::string>().find("no ACLs"),
            std::string::npos);
}

TEST_F(AgentTest, NodeIdIsAUuidStableForASeed) {
  const std::string id = agent_->node_id();
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  RecordingEnv other;
  Agent again(dev_defaults());
  Env env = other.env();
  again.start(env);
  EXPECT_EQ(again.node_id(), id);
}

TEST_F(AgentTest, LeaveAnswersThenShutsDownOnceTheLeaveHasSpread) {
  auto r = call("PUT", "/v1/agent/leave");
  EXPECT_EQ(r.status, 200);
  // The leave intent and SWIM's leave go out first; the agent stops after they had time to
  // spread, and refuses requests meanwhile.
  EXPECT_FALSE(rec_.exit_code.has_value());
  EXPECT_EQ(call("GET", "/v1/kv/a").status, 503);
  ASSERT_NE(agent_->lan(), nullptr);
  EXPECT_NE(agent_->lan()->leave_phase(), gossip::LeavePhase::kNone);
  const Instant start = rec_.now_;
  for (int i = 0; i < 100 && !rec_.exit_code; ++i) {
    ASSERT_LT(rec_.wake, Instant::never());
    rec_.now_ = std::max(rec_.now_, rec_.wake);
    agent_->on_wake(rec_.now_);
  }
  EXPECT_EQ(rec_.exit_code, 0);
  EXPECT_EQ(agent_->lan()->leave_phase(), gossip::LeavePhase::kDone);
  EXPECT_LE(rec_.now_ - start, Duration::seconds(5));
}

TEST_F(AgentTest, InterruptStopsAServerWithoutLeaving) {
  // Servers default to skip_leave_on_interrupt: SIGINT stops at once, no leave.
  agent_->stop(StopReason::kInterrupt);
  EXPECT_EQ(rec_.exit_code, 0);
  EXPECT_EQ(agent_->lan()->leave_phase(), gossip::LeavePhase::kNone);
}

TEST(AgentStop, ClientsLeaveOnTerminateAndServersDoNot) {
  for (bool server : {false, true}) {
    RecordingEnv rec;
    AgentConfig config = dev_defaults();
    config.dev = false;
    config.server = server;
    config.bootstrap = server;
    config.data_dir = "/unused";
    Agent agent(config);
    Env env = rec.env();
    agent.start(env);
    agent.stop(StopReason::kTerminate);
    EXPECT_EQ(agent.lan()->leave_phase() != gossip::LeavePhase::kNone, !server) << server;
    EXPECT_EQ(rec.exit_code.has_value(), server) << server;
  }
}

TEST_F(AgentTest, ReloadIsAnsweredWithItsOutcome) {
  // The request waits for the host's reload; a second one meanwhile shares that reload.
  RequestId first = send("PUT", "/v1/agent/reload");
  RequestId second = send("PUT", "/v1/agent/reload");
  EXPECT_EQ(rec_.reloads, 1);
  EXPECT_FALSE(rec_.responses.contains(first));
  // A configuration the agent cannot apply (a check of a service it does not have) is refused
  // with a 500 naming why, and the running configuration stays.
  AgentConfig bad = agent_->config();
  CheckDefinition orphan;
  orphan.id = "orphan";
  orphan.name = "orphan";
  orphan.service_id = "missing";
  orphan.ttl = Duration::seconds(10);
  bad.checks.push_back(orphan);
  EXPECT_FALSE(agent_->reload(bad));
  for (RequestId id : {first, second}) {
    ASSERT_TRUE(rec_.responses.contains(id));
    EXPECT_EQ(rec_.responses[id].status, 500);
    EXPECT_NE(rec_.responses[id].body.find("missing"), std::string::npos)
        << rec_.responses[id].body;
  }
  EXPECT_TRUE(agent_->config().checks.empty());
  // Files the host cannot load: 500 with the loader's message.
  RequestId third = send("PUT", "/v1/agent/reload");
  EXPECT_EQ(rec_.reloads, 2);
  agent_->reload_failed("/etc/praetor.d/x.json: ports.http: not a number");
  EXPECT_EQ(rec_.responses[third].status, 500);
  EXPECT_EQ(rec_.responses[third].body, "/etc/praetor.d/x.json: ports.http: not a number");
  // A good one: 200.
  RequestId fourth = send("PUT", "/v1/agent/reload");
  EXPECT_TRUE(agent_->reload(agent_->config()));
  EXPECT_EQ(rec_.responses[fourth].status, 200);
}

TEST(AgentServerWithoutLeader, WritesFailClearly) {
  RecordingEnv rec;
  AgentConfig config = dev_defaults();
  config.dev = false;
  config.bootstrap = false;
  config.bootstrap_expect = 3;
  config.data_dir = "/unused";
  Agent agent(config);
  Env env = rec.env();
  agent.start(env);
  HttpRequest put;
  put.method = "PUT";
  put.path = "/v1/kv/a";
  put.body = "x";
  agent.on_client_request(RequestId(1), put);
  ASSERT_TRUE(rec.responses.contains(RequestId(1)));
  EXPECT_EQ(rec.responses[RequestId(1)].status, 500);
  EXPECT_EQ(rec.responses[RequestId(1)].body, "No cluster leader");
  HttpRequest leader;
  leader.method = "GET";
  leader.path = "/v1/status/leader";
  agent.on_client_request(RequestId(2), leader);
  EXPECT_EQ(rec.responses[RequestId(2)].body, "\"\"");
  // The node id is persisted for a server with a data dir.
  ASSERT_EQ(rec.writes.size(), 1u);
  EXPECT_EQ(rec.writes[0].ops[0].file, "node-id");
  EXPECT_EQ(to_string(rec.writes[0].ops[0].data), agent.node_id());
}

TEST(AgentIdentity, ReusesThePersistedNodeId) {
  RecordingEnv rec;
  rec.files["node-id"] = to_bytes("0c1f2e3d-4b5a-4c6d-8e7f-001122334455\n");
  AgentConfig config = dev_defaults();
  Agent agent(config);
  Env env = rec.env();
  agent.start(env);
  EXPECT_EQ(agent.node_id(), "0c1f2e3d-4b5a-4c6d-8e7f-001122334455");
}

AgentConfig durable_server_config() {
  AgentConfig config = dev_defaults();
  config.dev = false;
  config.bootstrap = true;
  config.data_dir = "/data";
  return config;
}

HttpRequest make_request(std::string method, std::string target, std::string body = "") {
  auto parsed = parse_target(target);
  PRAETOR_ASSERT(parsed.has_value());
  HttpRequest r;
  r.method = std::move(method);
  r.path = parsed->path;
  r.query = parsed->query;
  r.body = std::move(body);
  return r;
}

TEST(DurableServer, AnswersAWriteOnlyAfterItIsDurable) {
  RecordingEnv rec;
  Agent agent(durable_server_config());
  Env env = rec.env();
  agent.start(env);
  rec.sync_all(agent);  // the election's hard state and the leader's first entry
  ASSERT_TRUE(agent.leader_address());
  agent.on_client_request(RequestId(1), make_request("PUT", "/v1/kv/a", "durable"));
  EXPECT_FALSE(rec.responses.contains(RequestId(1)));  // not acknowledged before the fsync
  ASSERT_FALSE(rec.unsynced.empty());
  EXPECT_TRUE(rec.unsynced.back().second.sync);
  rec.sync_all(agent);
  ASSERT_TRUE(rec.responses.contains(RequestId(1)));
  EXPECT_EQ(rec.responses[RequestId(1)].body, "true");
  agent.check_invariants();
}

TEST(DurableServer, AcknowledgedWritesSurviveARestart) {
  RecordingEnv rec;
  {
    Agent agent(durable_server_config());
    Env env = rec.env();
    agent.start(env);
    rec.sync_all(agent);
    for (int i = 0; i < 20; ++i) {
      agent.on_client_request(RequestId(100 + i),
                              make_request("PUT", fmt::format("/v1/kv/k{}", i), fmt::format("v{}", i)));
      rec.sync_all(agent);
      ASSERT_EQ(rec.responses[RequestId(100 + i)].body, "true");
    }
    agent.on_client_request(RequestId(200), make_request("DELETE", "/v1/kv/k3"));
    rec.sync_all(agent);
  }
  // A new process over the same files: same node id, same data, leader again.
  RecordingEnv after;
  after.files = rec.files;
  Agent agent(durable_server_config());
  Env env = after.env();
  agent.start(env);
  after.sync_all(agent);
  EXPECT_EQ(agent.node_id(), to_string(rec.files["node-id"]));
  for (int i = 0; i < 20; ++i) {
    const auto* e = agent.fsm().kv().get(fmt::format("k{}", i));
    if (i == 3) {
      EXPECT_EQ(e, nullptr);
    } else {
      ASSERT_NE(e, nullptr) << i;
      EXPECT_EQ(to_string(e->value), fmt::format("v{}", i));
    }
  }
  ASSERT_TRUE(agent.leader_address());
  agent.on_client_request(RequestId(1), make_request("PUT", "/v1/kv/after", "x"));
  after.sync_all(agent);
  EXPECT_EQ(after.responses[RequestId(1)].body, "true");
}

TEST(DurableServer, UnsyncedWritesAreNeverAcknowledged) {
  RecordingEnv rec;
  Agent agent(durable_server_config());
  Env env = rec.env();
  agent.start(env);
  rec.sync_all(agent);
  agent.on_client_request(RequestId(1), make_request("PUT", "/v1/kv/lost", "x"));
  // Crash: the pending batch never becomes durable.
  rec.unsynced.clear();
  EXPECT_FALSE(rec.responses.contains(RequestId(1)));
  RecordingEnv after;
  after.files = rec.files;
  Agent restarted(durable_server_config());
  Env env2 = after.env();
  restarted.start(env2);
  after.sync_all(restarted);
  EXPECT_EQ(restarted.fsm().kv().get("lost"), nullptr);
}

TEST(DurableServer, RefusesToStartOnACorruptLog) {
  RecordingEnv rec;
  {
    Agent agent(durable_server_config());
    Env env = rec.env();
    agent.start(env);
    rec.sync_all(agent);
    for (int i = 0; i < 3; ++i) {
      agent.on_client_request(RequestId(i + 1), make_request("PUT", "/v1/kv/x", "y"));
      rec.sync_all(agent);
    }
  }
  auto& segment = rec.files["raft/wal-0000000000000001"];
  ASSERT_GT(segment.size(), 40u);
  segment[25] ^= 0xff;
  RecordingEnv after;
  after.files = rec.files;
  Agent agent(durable_server_config());
  Env env = after.env();
  agent.start(env);
  EXPECT_EQ(after.exit_code, 1);
}

TEST(DurableServer, AFailedFsyncStopsTheServer) {
  RecordingEnv rec;
  Agent agent(durable_server_config());
  Env env = rec.env();
  agent.start(env);
  ASSERT_FALSE(rec.unsynced.empty());
  agent.on_written(rec.unsynced.front().first, make_error(ErrorCode::kIo, "EIO"));
  EXPECT_EQ(rec.exit_code, 1);
}

// Issue 10, item 1: the request pair that aborted every server of a cluster.
TEST_F(AgentTest, AKeyThatIsNotUtf8IsRefusedAndNothingIsStored) {
  auto put = call("PUT", "/v1/kv/poison%ff", "x");
  EXPECT_EQ(put.status, 400);
  EXPECT_EQ(put.body, "Request path is not valid UTF-8 (invalid byte at offset 13)");
  EXPECT_EQ(call("GET", "/v1/kv/?recurse").status, 404);
  EXPECT_EQ(call("GET", "/v1/kv/?recurse&stale").status, 404);
  EXPECT_EQ(call("DELETE", "/v1/kv/poison%ff").status, 400);
  // Valid multi-byte keys are as welcome as before.
  EXPECT_EQ(call("PUT", "/v1/kv/%E6%B7%B1%E5%9C%B3", "sz").body, "true");
  auto j = nlohmann::json::parse(call("GET", "/v1/kv/?recurse").body);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["Key"], "\xE6\xB7\xB1\xE5\x9C\xB3");
}

TEST_F(AgentTest, ASeparatorThatSplitsACharacterIsRefused) {
  ASSERT_EQ(call("PUT", "/v1/kv/x%C3%A9y", "v").body, "true");
  auto keys = call("GET", "/v1/kv/x?keys&separator=%C3");
  EXPECT_EQ(keys.status, 400);
  EXPECT_EQ(keys.body, "Query parameter \"separator\" is not valid UTF-8");
  // A whole character is a fine separator, and the answer splits at a character boundary.
  auto whole = call("GET", "/v1/kv/x?keys&separator=%C3%A9");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(nlohmann::json::parse(whole.body), nlohmann::json::array({"x\xC3\xA9"}));
  EXPECT_EQ(call("GET", "/v1/kv/x?keys&%FF").status, 400);  // a parameter name, too
  EXPECT_EQ(call("GET", "/v1/kv/x?recurse&dc=%C3").status, 400);
}

TEST_F(AgentTest, EveryApiPrefixChecksItsStrings) {
  for (const char* target :
       {"/v1/status/leader?x=%FF", "/v1/agent/self?%FE", "/v1/agent/members%C0%AF",
        "/v1/catalog/datacenters?dc=%ED%A0%80", "/v1/operator/raft/configuration?a=%F4%90%80%80"}) {
    EXPECT_EQ(call("GET", target).status, 400) << target;
  }
}

// The last line of defence: whatever a handler throws is answered with a 500, and the agent
// goes on serving (before issue 10, nothing caught it and the process aborted).
TEST_F(AgentTest, AnExceptionInAHandlerIsAnsweredWith500AndContained) {
  ASSERT_EQ(call("PUT", "/v1/kv/a", "v").body, "true");
  rec_.throw_from_now = true;  // a KV read asks the clock first (Raft's read index)
  auto r = call("GET", "/v1/kv/a");
  rec_.throw_from_now = false;
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "Internal error: the test's clock threw");
  EXPECT_TRUE(r.header("X-Consul-Index").has_value());
  EXPECT_EQ(call("GET", "/v1/kv/a?raw").body, "v");
  EXPECT_EQ(call("PUT", "/v1/kv/b", "w").body, "true");
}

// A log written before keys were checked (or by anything else that got such a key in) must
// load, replay and serve: a committed entry may never kill a replica that reads it.
TEST(DurableServer, ALogHoldingAKeyThatIsNotUtf8LoadsAndServes) {
  RecordingEnv rec;
  {
    Agent agent(durable_server_config());
    Env env = rec.env();
    agent.start(env);
    rec.sync_all(agent);
    agent.on_client_request(RequestId(1), make_request("PUT", "/v1/kv/poison-neighbour", "ok"));
    rec.sync_all(agent);
    ASSERT_EQ(rec.responses[RequestId(1)].body, "true");
  }
  auto injected =
      testing::append_committed_entry(rec.files, catalog::KvSet{"poison\xff", to_bytes("x"), 0});
  ASSERT_TRUE(injected) << injected.error().message;
  for (const auto& op : injected->batch.ops) apply_write_op(rec.files, op);
  for (int restart = 0; restart < 2; ++restart) {
    RecordingEnv after;
    after.files = rec.files;
    AgentConfig config = durable_server_config();
    config.check_invariants_each_input = true;
    Agent agent(config);
    Env env = after.env();
    agent.start(env);
    after.sync_all(agent);
    ASSERT_FALSE(after.exit_code.has_value());
    // Applied as it is: the log is the truth.
    ASSERT_NE(agent.fsm().kv().get("poison\xff"), nullptr);
    std::uint64_t next = 10;
    auto call = [&](std::string method, std::string target) {
      const RequestId id(next++);
      agent.on_client_request(id, make_request(std::move(method), std::move(target)));
      after.sync_all(agent);
      EXPECT_TRUE(after.responses.contains(id)) << target;
      return after.responses[id];
    };
    for (const char* target : {"/v1/kv/?recurse", "/v1/kv/?recurse&stale", "/v1/kv/?keys",
                               "/v1/kv/poison?keys&separator=%EF%BF%BD", "/v1/kv/p?recurse"}) {
      auto r = call("GET", target);
      EXPECT_EQ(r.status, 200) << target;
      EXPECT_TRUE(nlohmann::json::accept(r.body)) << target;
      // Shown as Consul shows it: the invalid byte becomes U+FFFD.
      EXPECT_NE(r.body.find("poison\xEF\xBF\xBD"), std::string::npos) << target << r.body;
    }
    if (restart == 1) {
      // The way out for an operator: a recursive delete of a valid prefix.
      EXPECT_EQ(call("DELETE", "/v1/kv/poison?recurse").body, "true");
      EXPECT_EQ(agent.fsm().kv().get("poison\xff"), nullptr);
      EXPECT_EQ(call("GET", "/v1/kv/poison-neighbour?raw").status, 404);
    }
    rec.files = after.files;
  }
}

}  // namespace
}  // namespace praetor::node
