// A real `praetor agent` process for the process tests: its own directory (config/, data/,
// agent.log), started with posix_spawn, signalled only by the pid it got, and its HTTP API on
// its own loopback address at port 8500.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cmd/praetor/http_client.hpp"

extern char** environ;

namespace praetor::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Polls `done` every 100 ms until it holds or `within` passes; says whether it held.
inline bool wait_until(std::chrono::milliseconds within, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

class AgentProcess {
 public:
  // `config` is written to config/agent.json; data_dir, bind_addr and client_addr are filled in.
  AgentProcess(std::string name, std::string address, const fs::path& root, nlohmann::json config)
      : name_(std::move(name)), address_(std::move(address)), dir_(root / name_) {
    fs::create_directories(dir_ / "config");
    fs::create_directories(dir_ / "data");
    config["node_name"] = name_;
    config["data_dir"] = (dir_ / "data").string();
    config["bind_addr"] = address_;
    config["client_addr"] = address_;
    std::ofstream(dir_ / "config" / "agent.json") << config.dump(2);
  }
  ~AgentProcess() { kill(SIGKILL); }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

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

  // Sends `signal` and reaps the process (SIGKILL: at once; others: it exits on its own).
  void kill(int signal) {
    if (pid_ < 0) return;
    ::kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Sends `signal` and leaves the process running until it exits on its own.
  void signal(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
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
    cmd::HttpTarget t{address_, 8500, ""};
    cmd::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    return cmd::http_request(t, r, 15'000);
  }

  std::string leader() {
    auto r = call("GET", "/v1/status/leader");
    if (!r || r->status != 200) return "";
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    return j.is_string() ? j.get<std::string>() : "";
  }

  // Member name -> status (Consul's numbers: 1 alive, 2 leaving, 3 left, 4 failed) as this
  // agent sees its LAN (or WAN) pool; empty when the agent does not answer.
  std::map<std::string, int> members(bool wan = false) {
    std::map<std::string, int> out;
    auto r = call("GET", wan ? "/v1/agent/members?wan=1" : "/v1/agent/members");
    if (!r || r->status != 200) return out;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (!j.is_array()) return out;
    for (const auto& m : j) out[m.value("Name", "")] = m.value("Status", 0);
    return out;
  }

  std::string log_text() const {
    std::ifstream in(dir_ / "agent.log");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::string log_tail() const {
    std::string text = log_text();
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }
  const fs::path& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }
  std::string rpc_address() const { return address_ + ":8300"; }

 private:
  std::string name_;
  std::string address_;
  fs::path dir_;
  pid_t pid_ = -1;
};

// A fresh directory under /tmp for one test's agents; removed unless the test failed or
// PRAETOR_KEEP is set.
inline fs::path make_test_root(const char* prefix) {
  std::string templ = std::string("/tmp/") + prefix + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return {};
  return templ;
}

}  // namespace praetor::testing
