// Safe defaults and start-up edges of `praetor agent` over real processes (issue 10, items 4
// and 5): data_dir and its parents are created (0700) before the pid file, data files are 0600,
// an HTTP API beyond loopback warns that there are no ACLs (at start and in `praetor info`), a
// bad port flag is refused by name, and the banner reports DNS as off. Also items 1-3 over raw
// sockets against a running agent: framing, UTF-8, the per-client cap, the header timeout.
//
// Each test binds its own loopback address in 127.0.0.30-39 (other suites use 127.0.0.1-29), so
// the default gossip and RPC ports do not collide; HTTP ports come from free_port().
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iterator>
#include <thread>

#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

namespace fs = std::filesystem;

bool wait_until(std::chrono::seconds within, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// `praetor agent` in the background, stdout and stderr to one log file; killed (by its own pid)
// when the test ends.
class BackgroundAgent {
 public:
  BackgroundAgent(std::vector<std::string> args, std::string log_path)
      : log_path_(std::move(log_path)) {
    args.insert(args.begin(), {PRAETOR_BINARY, "agent"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    EXPECT_EQ(::posix_spawn(&pid_, PRAETOR_BINARY, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~BackgroundAgent() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  BackgroundAgent(const BackgroundAgent&) = delete;
  BackgroundAgent& operator=(const BackgroundAgent&) = delete;

  std::string log() const { return read_text(log_path_); }
  // Waits until the agent says its HTTP server is up; on a timeout the log goes into the failure.
  bool wait_started() const {
    const bool up = wait_until(std::chrono::seconds(20), [&] {
      return log().find("Started HTTP server") != std::string::npos;
    });
    if (!up) ADD_FAILURE() << "agent did not start; its output:\n" << log();
    return up;
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
};

// Sets the umask for the agent it spawns: 0 shows the modes the agent asks for, not the ones a
// umask of 022 would leave.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(saved_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t saved_;
};

// Scripts start Consul as `-data-dir D/n1/data -pid-file D/n1/pid` with D/n1 absent: Consul makes
// data_dir with its parents first, so the pid file's directory exists by the time it is written.
TEST(CliSafetyTest, DataDirIsCreatedWithItsParentsBeforeThePidFileAndKeptPrivate) {
  TempDir tmp;
  const fs::path node_dir = fs::path(tmp.path()) / "D" / "n1";
  const fs::path data = node_dir / "data";
  ASSERT_FALSE(fs::exists(node_dir));
  const int http = free_port();
  std::unique_ptr<BackgroundAgent> agent;
  {
    ScopedUmask no_umask(0);
    agent = std::make_unique<BackgroundAgent>(
        std::vector<std::string>{"-server", "-bootstrap", "-node=safety-files", "-bind=127.0.0.30",
                                 "-client=127.0.0.30", "-http-port=" + std::to_string(http),
                                 "-data-dir=" + data.string(),
                                 "-pid-file=" + (node_dir / "pid").string()},
        tmp.path() + "/agent.log");
  }
  ASSERT_TRUE(agent->wait_started());
  EXPECT_TRUE(fs::exists(node_dir / "pid"));
  // The node id, the WAL, Raft's snapshot and the member snapshots appear as the server starts.
  const bool written = wait_until(std::chrono::seconds(10), [&] {
    return fs::exists(data / "node-id") && fs::exists(data / "raft" / "snapshot") &&
           fs::exists(data / "serf" / "local.snapshot") &&
           fs::exists(data / "raft" / "wal-0000000000000001");
  });
  EXPECT_TRUE(written) << agent->log();
  EXPECT_EQ(mode_of(tmp.path() + "/D"), 0700u);
  EXPECT_EQ(mode_of(node_dir), 0700u);
  EXPECT_EQ(mode_of(data), 0700u);
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(data)) {
    if (entry.is_directory()) {
      EXPECT_EQ(mode_of(entry.path()), 0700u) << entry.path();
    } else {
      EXPECT_EQ(mode_of(entry.path()), 0600u) << entry.path();
      ++files;
    }
  }
  EXPECT_GE(files, 4);
  // Loopback only: no ACL warning, anywhere.
  const std::string log = agent->log();
  EXPECT_EQ(log.find("no ACLs"), std::string::npos) << log;
  const ProcessResult info = run_praetor({"info", "-http-addr=127.0.0.30:" + std::to_string(http)});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(info.out.find("security_warning"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\tacl = disabled\n"), std::string::npos) << info.out;
  // The banner names the DNS port served (no HTTPS listener: -1).
  EXPECT_NE(log.find("(HTTP: " + std::to_string(http) + ", HTTPS: -1, DNS: 8600)"),
            std::string::npos)
      << log;
}

// An existing data_dir keeps its mode (D17), with a warning that others can read it.
TEST(CliSafetyTest, ALooseExistingDataDirIsWarnedAboutNotChanged) {
  TempDir tmp;
  const fs::path data = fs::path(tmp.path()) / "data";
  ASSERT_EQ(::mkdir(data.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(data.c_str(), 0755), 0);  // whatever the umask took away
  BackgroundAgent agent({"-node=safety-loose", "-bind=127.0.0.31", "-client=127.0.0.31",
                         "-http-port=" + std::to_string(free_port()), "-data-dir=" + data.string()},
                        tmp.path() + "/agent.log");
  ASSERT_TRUE(agent.wait_started());
  const std::string log = agent.log();
  EXPECT_NE(log.find("[WARN] agent: SECURITY: data_dir " + data.string() + " has mode 0755"),
            std::string::npos)
      << log;
  EXPECT_EQ(mode_of(data), 0755u);
}

// -client 0.0.0.0 puts the HTTP API on every address, and there are no ACLs: the agent says so
// on stderr before the banner, in its log, and `praetor info` shows it.
TEST(CliSafetyTest, ClientAddrBeyondLoopbackWarnsAtStartAndInInfo) {
  TempDir tmp;
  // 0.0.0.0 binds every address: an ephemeral port, not 8500, and no DNS (8600 on every address
  // would collide with the agents other tests run on 127.0.0.x).
  const int http = free_port();
  BackgroundAgent agent({"-dev", "-node=safety-open", "-bind=127.0.0.32", "-client=0.0.0.0",
                         "-http-port=" + std::to_string(http), "-dns-port=-1"},
                        tmp.path() + "/agent.log");
  ASSERT_TRUE(agent.wait_started());
  const std::string log = agent.log();
  const std::string what = "the HTTP API listens on 0.0.0.0 (port " + std::to_string(http) +
                           "), beyond loopback, and praetor has no ACLs";
  EXPECT_NE(log.find("==> WARNING: " + what), std::string::npos) << log;
  EXPECT_NE(log.find("[WARN] agent: SECURITY: " + what), std::string::npos) << log;
  const ProcessResult info = run_praetor({"info", "-http-addr=127.0.0.1:" + std::to_string(http)});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("\tsecurity_warning = " + what), std::string::npos) << info.out;
  EXPECT_NE(info.err.find("WARNING: " + what), std::string::npos) << info.err;
}

// A port below -1 is refused, naming the flag (Consul silently disables the listener).
TEST(CliSafetyTest, BadNumbersOnTheCommandLineAreRefusedByFlagName) {
  TempDir tmp;
  struct Case {
    const char* flag;
    const char* message;
  };
  for (const Case& c :
       {Case{"-http-port=-5", "command line: -http-port: invalid port: -5"},
        Case{"-dns-port=-2", "command line: -dns-port: invalid port: -2"},
        Case{"-retry-interval=-30s",
             "command line: -retry-interval: invalid duration \"-30s\": must not be negative"},
        Case{"-retry-max=-1", "command line: -retry-max: expected a number between 0"},
        Case{"-bootstrap-expect=-1",
             "command line: -bootstrap-expect: bootstrap_expect cannot be -1"}}) {
    const ProcessResult r = run_praetor({"agent", "-node=safety-refused", "-bind=127.0.0.33",
                                         "-data-dir=" + tmp.path() + "/data", c.flag});
    EXPECT_EQ(r.exit_code, 1) << c.flag;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.flag << ": " << r.err;
  }
}

// A TCP connection from a chosen loopback source address to a running agent's HTTP port.
class RawConnection {
 public:
  RawConnection(const char* from, const char* to, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    ::inet_pton(AF_INET, from, &source.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&source), sizeof(source)), 0);
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, to, &target.sin_addr);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&target), sizeof(target)), 0);
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void send(const std::string& bytes) {
    EXPECT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // Everything the agent sends until it closes the connection (or `within` passes).
  std::string read_until_closed(std::chrono::seconds within) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_ = true;
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

// Issue 10, items 1-3 against a running agent: strict framing, the UTF-8 rule, the per-client
// connection cap from the config file, and the header timeout for connections that send nothing.
// Agent on 127.0.0.38, clients from .37 and .39.
TEST(CliSafetyTest, HostileHttpAgainstARunningAgent) {
  TempDir tmp;
  const std::string config = tmp.path() + "/limits.json";
  std::ofstream(config) << R"({"limits": {"http_max_conns_per_client": 3}})";
  const int http = free_port();
  BackgroundAgent agent({"-dev", "-node=safety-hostile", "-bind=127.0.0.38", "-client=127.0.0.38",
                         "-http-port=" + std::to_string(http), "-config-file=" + config},
                        tmp.path() + "/agent.log");
  ASSERT_TRUE(agent.wait_started());
  auto exchange = [&](const char* from, const std::string& request) {
    RawConnection c(from, "127.0.0.38", http);
    c.send(request);
    return c.read_until_closed(std::chrono::seconds(15));
  };
  auto status_of = [](const std::string& response) { return response.substr(0, 12); };
  const std::string close = "Host: x\r\nConnection: close\r\n";

  // The smuggling example: junk where the CRLF after chunk data belongs.
  EXPECT_EQ(status_of(exchange("127.0.0.37", "PUT /v1/kv/smuggled HTTP/1.1\r\n" + close +
                                                 "Transfer-Encoding: chunked\r\n\r\n"
                                                 "5\r\nhelloAB3\r\nabcZZ0\r\n\r\n")),
            "HTTP/1.1 400");
  EXPECT_EQ(status_of(exchange("127.0.0.37", "GET /v1/kv/smuggled HTTP/1.1\r\n" + close + "\r\n")),
            "HTTP/1.1 404");
  EXPECT_EQ(status_of(exchange("127.0.0.37", "PUT /v1/kv/z HTTP/1.1\r\n" + close +
                                                 "Transfer-Encoding: gzip, chunked\r\n\r\n"
                                                 "0\r\n\r\n")),
            "HTTP/1.1 501");
  EXPECT_EQ(
      status_of(exchange("127.0.0.37", "GET /v1/status/leader HTTP/2.0\r\n" + close + "\r\n")),
      "HTTP/1.1 505");
  EXPECT_EQ(status_of(exchange("127.0.0.37", "GET /v1/status/leader\r\n\r\n")), "HTTP/1.1 400");
  const std::string poison = exchange(
      "127.0.0.37", "PUT /v1/kv/poison%ff HTTP/1.1\r\n" + close + "Content-Length: 1\r\n\r\nx");
  EXPECT_EQ(status_of(poison), "HTTP/1.1 400");
  EXPECT_NE(poison.find("not valid UTF-8"), std::string::npos) << poison;

  // Three idle connections from .39 fill its share; the fourth is closed at once, unanswered,
  // while .37 is still served.
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawConnection>("127.0.0.39", "127.0.0.38", http));
  }
  RawConnection fourth("127.0.0.39", "127.0.0.38", http);
  EXPECT_EQ(fourth.read_until_closed(std::chrono::seconds(5)), "");
  EXPECT_TRUE(fourth.closed());
  EXPECT_EQ(
      status_of(exchange("127.0.0.37", "GET /v1/status/leader HTTP/1.1\r\n" + close + "\r\n")),
      "HTTP/1.1 200");
  EXPECT_TRUE(wait_until(std::chrono::seconds(5), [&] {
    return agent.log().find("http_max_conns_per_client 3") != std::string::npos;
  })) << agent.log();

  // The held connections never sent a request line: the agent closes them at the header timeout
  // (10 s from accept, not the 90 s idle timeout), and .39 is served again.
  const auto held_since = std::chrono::steady_clock::now();
  for (auto& c : held) {
    EXPECT_EQ(c->read_until_closed(std::chrono::seconds(20)), "");
    EXPECT_TRUE(c->closed());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - held_since, std::chrono::seconds(15));
  EXPECT_EQ(
      status_of(exchange("127.0.0.39", "GET /v1/status/leader HTTP/1.1\r\n" + close + "\r\n")),
      "HTTP/1.1 200");
}

}  // namespace
}  // namespace praetor_cli_test
