// Three real server processes on 127.0.0.2-4 with data on disk: they find each other through
// retry_join, elect a leader, take writes through any server; kill -9 of the leader yields a new
// leader; the killed server restarts with its data; a WAL corrupted in the middle makes that one
// server refuse to start while the others carry on; a server whose data_dir was wiped rejoins.
// Only processes this test started are signalled, by pid.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "io/uv_storage.hpp"
#include "tests/process/agent_process.hpp"
#include "tests/support/log_injection.hpp"

namespace praetor {
namespace {

using testing::AgentProcess;
using testing::Clock;
namespace fs = std::filesystem;
using Server = AgentProcess;

std::string address(int n) { return "127.0.0." + std::to_string(n + 1); }

std::unique_ptr<Server> make_server(int n, const fs::path& root) {
  nlohmann::json join = nlohmann::json::array();
  for (int other = 1; other <= 3; ++other) {
    if (other != n) join.push_back(address(other));
  }
  nlohmann::json config = {{"datacenter", "shenzhen"},
                           {"server", true},
                           {"bootstrap_expect", 3},
                           {"retry_join", join},
                           {"log_level", "DEBUG"},
                           {"ports", {{"dns", -1}}},
                           {"performance", {{"raft_multiplier", 1}}}};
  return std::make_unique<Server>("s" + std::to_string(n), address(n), root, config);
}

class ClusterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::make_test_root("praetor-cluster");
    ASSERT_FALSE(root_.empty());
    for (int n = 1; n <= 3; ++n) servers_.push_back(make_server(n, root_));
  }
  void TearDown() override {
    const bool failed = HasFailure();
    for (auto& s : servers_) {
      if (failed) std::cerr << "---- " << s->dir() << "/agent.log (tail)\n" << s->log_tail();
      s->kill(SIGKILL);
    }
    servers_.clear();
    if (!failed && std::getenv("PRAETOR_KEEP") == nullptr) fs::remove_all(root_);
  }

  // The leader address every running server reports, once they agree.
  std::string wait_for_leader(std::chrono::seconds within, const std::string& not_this = "") {
    const auto deadline = Clock::now() + within;
    while (Clock::now() < deadline) {
      std::string agreed;
      bool ok = true;
      for (auto& s : servers_) {
        if (!s->running()) continue;
        std::string l = s->leader();
        if (l.empty() || l == not_this || (!agreed.empty() && l != agreed)) ok = false;
        agreed = l;
      }
      if (ok && !agreed.empty()) return agreed;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "";
  }

  Server& by_rpc(const std::string& rpc) {
    for (auto& s : servers_) {
      if (s->rpc_address() == rpc) return *s;
    }
    ADD_FAILURE() << "no server at " << rpc;
    return *servers_.front();
  }

  // Writes through `via` (followers forward), retrying answers that are not "true" or "false".
  bool put(Server& via, const std::string& key, const std::string& value) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto r = via.call("PUT", "/v1/kv/" + key, value);
      if (r && r->status == 200 && r->body == "true") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void expect_all_keys(Server& s, const std::map<std::string, std::string>& keys,
                       std::chrono::seconds within) {
    const auto deadline = Clock::now() + within;
    std::string missing;
    while (Clock::now() < deadline) {
      missing.clear();
      for (const auto& [k, v] : keys) {
        auto r = s.call("GET", "/v1/kv/" + k + "?raw&stale");
        if (!r || r->status != 200 || r->body != v) {
          missing = k;
          break;
        }
      }
      if (missing.empty()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << s.dir() << " lacks acknowledged key " << missing;
  }

  // The X-Consul-Index a server's stale read reports (0 when it does not answer).
  static std::uint64_t stale_index(Server& s) {
    auto r = s.call("GET", "/v1/kv/?recurse&stale");
    if (!r) return 0;
    auto it = r->headers.find("x-consul-index");
    return it == r->headers.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
  }

  fs::path root_;
  std::vector<std::unique_ptr<Server>> servers_;
};

// Writes `batch` into a stopped server's data_dir through the same FileStorage the agent uses.
void write_to_data_dir(const fs::path& data_dir, const node::WriteBatch& batch) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  std::optional<Result<void>> done;
  {
    io::FileStorage storage(&loop, data_dir.string(),
                            [&](Ticket, Result<void> result) { done = std::move(result); });
    ASSERT_TRUE(storage.recover());
    storage.write(batch, Ticket(1));
    while (!done) uv_run(&loop, UV_RUN_ONCE);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  ASSERT_TRUE(*done) << done->error().message;
}

node::StoredFiles read_data_dir(const fs::path& data_dir) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  node::StoredFiles files;
  {
    io::FileStorage storage(&loop, data_dir.string(), [](Ticket, Result<void>) {});
    auto recovered = storage.recover();
    EXPECT_TRUE(recovered);
    if (recovered) files = std::move(*recovered);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return files;
}

// Issue 10, item 1: the requests that once aborted every server of a cluster, then a log that
// already holds such a key (as one written before the fix would), replayed on restart and after
// kill -9: every server must keep serving.
TEST_F(ClusterProcessTest, KeysThatAreNotUtf8NeverStopAServer) {
  for (auto& s : servers_) s->start();
  ASSERT_FALSE(wait_for_leader(std::chrono::seconds(30)).empty()) << "no leader elected";
  ASSERT_TRUE(put(*servers_[0], "x%C3%A9y", "v"));
  for (auto& s : servers_) {
    auto poison = s->call("PUT", "/v1/kv/poison%ff", "x");
    ASSERT_TRUE(poison);
    EXPECT_EQ(poison->status, 400) << s->name();
    EXPECT_NE(poison->body.find("not valid UTF-8"), std::string::npos) << poison->body;
    auto split = s->call("GET", "/v1/kv/x?keys&separator=%C3");
    ASSERT_TRUE(split);
    EXPECT_EQ(split->status, 400) << s->name();
  }
  for (auto& s : servers_) {
    auto all = s->call("GET", "/v1/kv/?recurse&stale");
    ASSERT_TRUE(all) << s->name() << " stopped answering";
    EXPECT_EQ(all->status, 200);
    EXPECT_EQ(nlohmann::json::parse(all->body).size(), 1u);  // the refused key was not stored
  }

  // Stop all three once they hold the same log, and give each the same committed entry with
  // the key the API now refuses.
  ASSERT_TRUE(testing::wait_until(std::chrono::seconds(10), [&] {
    const auto first = stale_index(*servers_[0]);
    return first > 0 && stale_index(*servers_[1]) == first && stale_index(*servers_[2]) == first;
  }));
  for (auto& s : servers_) s->kill(SIGTERM);
  std::optional<std::pair<LogIndex, Term>> end;
  for (auto& s : servers_) {
    const auto files = read_data_dir(s->dir() / "data");
    auto this_end = testing::stored_log_end(files);
    ASSERT_TRUE(this_end) << this_end.error().message;
    if (end) {
      ASSERT_EQ(*end, *this_end) << s->name() << " ends elsewhere: injecting would diverge";
    }
    end = *this_end;
    auto injected =
        testing::append_committed_entry(files, catalog::KvSet{"poison\xff", to_bytes("x"), 0});
    ASSERT_TRUE(injected) << injected.error().message;
    write_to_data_dir(s->dir() / "data", injected->batch);
  }

  auto serves_the_key = [&](Server& s) {
    return testing::wait_until(std::chrono::seconds(20), [&] {
      auto r = s.call("GET", "/v1/kv/?recurse&stale");
      return r && r->status == 200 && nlohmann::json::accept(r->body) &&
             r->body.find("poison\xEF\xBF\xBD") != std::string::npos;
    });
  };
  for (auto& s : servers_) s->start();
  const std::string leader = wait_for_leader(std::chrono::seconds(30));
  ASSERT_FALSE(leader.empty()) << "no leader after replaying the key";
  for (auto& s : servers_) {
    EXPECT_TRUE(serves_the_key(*s)) << s->name();
    auto keys = s->call("GET", "/v1/kv/?keys&stale");
    ASSERT_TRUE(keys);
    EXPECT_EQ(keys->status, 200);
  }
  // kill -9 of the leader replays it once more, on a server that must start and serve again.
  Server& old_leader = by_rpc(leader);
  old_leader.kill(SIGKILL);
  ASSERT_FALSE(wait_for_leader(std::chrono::seconds(15), leader).empty());
  old_leader.start();
  EXPECT_TRUE(serves_the_key(old_leader));
  // The way out: a recursive delete of a valid prefix removes it. servers_[0] may be the server
  // just restarted, which answers "No cluster leader" until the leader's first heartbeat
  // reaches it; a client retries that, and so does this one.
  std::optional<cmd::HttpResponse> removed;
  EXPECT_TRUE(testing::wait_until(std::chrono::seconds(10), [&] {
    auto r = servers_[0]->call("DELETE", "/v1/kv/poison?recurse");
    if (r) removed = *r;
    return removed && removed->body != "No cluster leader";
  }));
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->body, "true");
  for (auto& s : servers_) {
    EXPECT_TRUE(testing::wait_until(std::chrono::seconds(10), [&] {
      auto r = s->call("GET", "/v1/kv/?keys&stale");
      return r && r->status == 200 && r->body == "[\"x\xC3\xA9y\"]";
    })) << s->name();
  }
}

TEST_F(ClusterProcessTest, SurvivesLeaderKillRestartCorruptionAndWipe) {
  for (auto& s : servers_) s->start();
  const std::string first = wait_for_leader(std::chrono::seconds(30));
  ASSERT_FALSE(first.empty()) << "no leader elected";

  std::map<std::string, std::string> acked;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "k" + std::to_string(i), value = "v" + std::to_string(i);
    ASSERT_TRUE(put(*servers_[static_cast<std::size_t>(i % 3)], key, value)) << key;
    acked[key] = value;
  }

  // kill -9 of the leader: a new leader, and writes go on.
  Server& old_leader = by_rpc(first);
  old_leader.kill(SIGKILL);
  const std::string second = wait_for_leader(std::chrono::seconds(15), first);
  ASSERT_FALSE(second.empty()) << "no new leader after kill -9 of " << first;
  Server& leader = by_rpc(second);
  for (int i = 30; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(put(leader, key, "after")) << key;
    acked[key] = "after";
  }

  // Restart with its data: it catches up, and every acknowledged write is readable everywhere.
  old_leader.start();
  for (auto& s : servers_) expect_all_keys(*s, acked, std::chrono::seconds(20));

  // A WAL byte corrupted in the middle: that server refuses to start with a clear message.
  Server* victim = nullptr;
  for (auto& s : servers_) {
    if (s->rpc_address() != second) victim = s.get();
  }
  ASSERT_NE(victim, nullptr);
  victim->kill(SIGTERM);
  const fs::path wal = victim->dir() / "data" / "raft" / "wal-0000000000000001";
  ASSERT_TRUE(fs::exists(wal));
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    char c = 0;
    f.seekg(30);
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(30);
    f.write(&c, 1);
  }
  victim->start();
  EXPECT_EQ(victim->wait_exit(std::chrono::seconds(15)), 1);
  const std::string log = victim->log_text();
  EXPECT_NE(log.find("raft/wal-0000000000000001"), std::string::npos) << victim->log_tail();
  EXPECT_NE(log.find("offset"), std::string::npos);
  EXPECT_NE(log.find("refusing to start"), std::string::npos);
  // The other two still form a quorum and take writes.
  ASSERT_TRUE(put(leader, "during-corruption", "yes"));
  acked["during-corruption"] = "yes";

  // Wipe the corrupted server's data: it rejoins as a new server and catches up.
  fs::remove_all(victim->dir() / "data");
  fs::create_directories(victim->dir() / "data");
  victim->start();
  expect_all_keys(*victim, acked, std::chrono::seconds(30));
  auto config = leader.call("GET", "/v1/operator/raft/configuration");
  ASSERT_TRUE(config);
  auto servers = nlohmann::json::parse(config->body)["Servers"];
  EXPECT_EQ(servers.size(), 3u) << config->body;

  // An operator removes a dead server with the CLI; the configuration shrinks to two.
  victim->kill(SIGKILL);
  // Once gossip has marked it failed, autopilot no longer adds it back as an alive server.
  ASSERT_TRUE(testing::wait_until(std::chrono::seconds(40), [&] {
    return leader.members()[victim->name()] == 4;
  })) << "the killed server was not marked failed";
  const std::string cli = std::string(PRAETOR_BIN) + " operator raft remove-peer -http-addr=" +
                          leader.rpc_address().substr(0, leader.rpc_address().find(':')) +
                          ":8500 -address=" + victim->rpc_address() + " 2>&1";
  std::string output;
  if (FILE* p = popen(cli.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p) != nullptr) output += buf;
    EXPECT_EQ(pclose(p), 0) << output;
  }
  EXPECT_NE(output.find("Removed peer with address"), std::string::npos) << output;
  config = leader.call("GET", "/v1/operator/raft/configuration");
  ASSERT_TRUE(config);
  EXPECT_EQ(nlohmann::json::parse(config->body)["Servers"].size(), 2u) << config->body;
  ASSERT_TRUE(put(leader, "after-remove", "ok"));
}

}  // namespace
}  // namespace praetor
