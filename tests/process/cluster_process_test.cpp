// Three real server processes on 127.0.0.2-4 with data on disk: they find each other through
// retry_join, elect a leader, take writes through any server; kill -9 of the leader yields a new
// leader; the killed server restarts with its data; a WAL corrupted in the middle makes that one
// server refuse to start while the others carry on; a server whose data_dir was wiped rejoins.
// Only processes this test started are signalled, by pid.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cmd/praetor/http_client.hpp"

extern char** environ;

namespace praetor {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string address(int n) { return "127.0.0." + std::to_string(n + 1); }

class Server {
 public:
  Server(int n, const fs::path& root) : n_(n), dir_(root / ("s" + std::to_string(n))) {
    fs::create_directories(dir_ / "config");
    fs::create_directories(dir_ / "data");
    nlohmann::json join = nlohmann::json::array();
    for (int other = 1; other <= 3; ++other) {
      if (other != n) join.push_back(address(other));
    }
    nlohmann::json config = {{"node_name", "s" + std::to_string(n)},
                             {"datacenter", "shenzhen"},
                             {"server", true},
                             {"bootstrap_expect", 3},
                             {"data_dir", (dir_ / "data").string()},
                             {"bind_addr", address(n)},
                             {"client_addr", address(n)},
                             {"retry_join", join},
                             {"log_level", "DEBUG"},
                             {"ports", {{"dns", -1}}},
                             {"performance", {{"raft_multiplier", 1}}}};
    std::ofstream(dir_ / "config" / "server.json") << config.dump(2);
  }
  ~Server() { kill(SIGKILL); }

  void start() {
    ASSERT_LT(pid_, 0);
    const std::string bin = PRAETOR_BIN;
    const std::string config_dir = "-config-dir=" + (dir_ / "config").string();
    const std::string log = (dir_ / "agent.log").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv{const_cast<char*>(bin.c_str()), const_cast<char*>("agent"),
                            const_cast<char*>(config_dir.c_str()), nullptr};
    pid_t pid = -1;
    ASSERT_EQ(posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    pid_ = pid;
  }

  void kill(int signal) {
    if (pid_ < 0) return;
    ::kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Waits for the process to exit on its own; returns its exit code (-1 on timeout).
  int wait_exit(std::chrono::seconds within) {
    const auto deadline = Clock::now() + within;
    while (Clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  Result<cmd::HttpResponse> call(const std::string& method, const std::string& target,
                                 const std::string& body = "") {
    cmd::HttpTarget t{address(n_), 8500, ""};
    cmd::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    return cmd::http_request(t, r, 15'000);
  }

  std::string leader() {
    auto r = call("GET", "/v1/status/leader");
    if (!r || r->status != 200) return "";
    return nlohmann::json::parse(r->body, nullptr, false).is_string()
               ? nlohmann::json::parse(r->body).get<std::string>()
               : "";
  }

  std::string log_text() const {
    std::ifstream in(dir_ / "agent.log");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  const fs::path& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }
  std::string rpc_address() const { return address(n_) + ":8300"; }

 private:
  int n_;
  fs::path dir_;
  pid_t pid_ = -1;
};

class ClusterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/praetor-cluster-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    root_ = templ;
    for (int n = 1; n <= 3; ++n) servers_.push_back(std::make_unique<Server>(n, root_));
  }
  void TearDown() override {
    const bool failed = HasFailure();
    for (auto& s : servers_) {
      if (failed) std::cerr << "---- " << s->dir() << "/agent.log (tail)\n" << tail(s->log_text());
      s->kill(SIGKILL);
    }
    servers_.clear();
    if (!failed && std::getenv("PRAETOR_KEEP") == nullptr) fs::remove_all(root_);
  }
  static std::string tail(const std::string& text) {
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
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

  fs::path root_;
  std::vector<std::unique_ptr<Server>> servers_;
};

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
  EXPECT_NE(log.find("raft/wal-0000000000000001"), std::string::npos) << tail(log);
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
  std::this_thread::sleep_for(std::chrono::seconds(4));  // past autopilot's liveness window
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
