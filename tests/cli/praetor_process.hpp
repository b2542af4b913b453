// Helpers for tests that run the built `praetor` binary (PRAETOR_BINARY, from CMake).
#include <fcntl.h>
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace praetor_cli_test {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Spawns the binary with args and optional extra environment, collects both streams.
inline ProcessResult run_praetor(const std::vector<std::string>& args,
                                 const std::vector<std::string>& env = {}) {
  int out_pipe[2], err_pipe[2];
  EXPECT_EQ(::pipe(out_pipe), 0);
  EXPECT_EQ(::pipe(err_pipe), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  std::vector<std::string> argv_store = {PRAETOR_BINARY};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.starts_with("PRAETOR_HTTP_ADDR=") || entry.starts_with("CONSUL_HTTP_ADDR=")) continue;
    env_store.push_back(entry);
  }
  env_store.insert(env_store.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, PRAETOR_BINARY, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ProcessResult result;
  EXPECT_EQ(rc, 0) << "spawn " << PRAETOR_BINARY;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0 && ::poll(fds, 2, 30'000) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/praetor-cli-test-XXXXXX";
    path_ = ::mkdtemp(templ);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string testdata(const std::string& name) {
  return std::string(PRAETOR_TESTDATA) + "/" + name;
}

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// How many leading words name the command: flags go after them ("kv put", "catalog nodes").
inline std::ptrdiff_t command_words(const std::vector<std::string>& args) {
  return !args.empty() && (args[0] == "kv" || args[0] == "catalog") && args.size() > 1 ? 2 : 1;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Polls `done` every 50 ms until it holds or `limit` passes; returns its last answer. Tests wait
// on what a process does, never on a fixed sleep.
template <typename Pred>
bool eventually(Pred done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// A long-running `praetor` (watch, lock, agent) with stdout and stderr in files, so the test can
// read them while it runs. The destructor kills and reaps it if the test did not.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& args, const std::string& out_path,
                    const std::string& err_path, const std::vector<std::string>& env = {},
                    const std::string& stdin_path = "/dev/null")
      : out_path_(out_path), err_path_(err_path) {
    std::vector<std::string> argv_store = {PRAETOR_BINARY};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_store;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      if (entry.starts_with("PRAETOR_HTTP_ADDR=") || entry.starts_with("CONSUL_HTTP_ADDR=")) {
        continue;
      }
      env_store.push_back(entry);
    }
    env_store.insert(env_store.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    EXPECT_EQ(::posix_spawn(&pid_, PRAETOR_BINARY, &actions, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~BackgroundProcess() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const {
    if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
  }
  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }

  // The exit code (128+signal when killed), or nullopt if still running after `limit`.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    eventually([this] { return poll_exit(); }, limit);
    return exit_code_;
  }
  bool running() { return !poll_exit(); }

 private:
  bool poll_exit() {
    if (exit_code_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string out_path_, err_path_;
};

// `praetor agent -dev` on a loopback address of its own, ready once `kv get` answers.
class DevAgent {
 public:
  DevAgent(const std::string& address, const std::string& dir, const std::string& node)
      : address_(address),
        process_({"agent", "-dev", "-node=" + node, "-bind=" + address, "-client=" + address},
                 dir + "/agent-" + node + ".out", dir + "/agent-" + node + ".log") {}

  std::string http_flag() const { return "-http-addr=" + address_ + ":8500"; }
  std::string url(const std::string& path) const { return "http://" + address_ + ":8500" + path; }

  // Readiness: polls the real process until it answers, with a deadline. Our process must
  // still be running: another agent left on the address would answer in its place.
  bool wait_ready() {
    return eventually(
               [this] {
                 const auto r = run_praetor({"kv", "get", http_flag(), "-recurse", "readiness/"});
                 return r.exit_code == 0 || !process_.running();
               },
               std::chrono::seconds(20)) &&
           process_.running();
  }
  std::string log() const { return process_.err() + process_.out(); }
  BackgroundProcess& process() { return process_; }

 private:
  std::string address_;
  BackgroundProcess process_;
};

// curl for the tests that speak HTTP to the agent directly (registrations, session destroy):
// the answer's body, or "curl failed" when it could not connect.
inline std::string curl(const std::string& method, const std::string& url,
                        const std::string& body = "") {
  TempDir tmp;
  std::string cmd = "curl -sS -X " + method + " '" + url + "'";
  if (!body.empty()) cmd += " --data-binary @'" + tmp.write("body", body) + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "curl failed";
  std::string out;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  return ::pclose(p) == 0 ? out : "curl failed: " + out;
}

}  // namespace praetor_cli_test
