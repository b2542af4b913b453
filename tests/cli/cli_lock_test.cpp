// `praetor lock` against a running `praetor agent -dev` on 127.0.0.51: the child runs only while
// the lock is held, two contenders take turns and never overlap, destroying the holder's session
// stops its child and hands the lock over, -n>1 is Consul's semaphore, -timeout gives up, and
// everything (key, contender keys, sessions) is cleaned up afterwards.
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

class LockTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    agent_ = new DevAgent("127.0.0.51", tmp_->path(), "cli-lock");
    if (!agent_->wait_ready()) FAIL() << "agent on 127.0.0.51 never answered:\n" << agent_->log();
  }
  static void TearDownTestSuite() {
    delete agent_;
    agent_ = nullptr;
    delete tmp_;
    tmp_ = nullptr;
  }
  void SetUp() override {
    // Sessions and ?acquire are being built on another branch: until they are served these
    // tests have nothing to run against.
    if (curl("GET", agent_->url("/v1/session/list")).find("Not found") != std::string::npos) {
      GTEST_SKIP() << "the agent does not serve /v1/session/* yet";
    }
  }

  static ProcessResult run(std::vector<std::string> args) {
    args.insert(args.begin() + command_words(args), agent_->http_flag());
    return run_praetor(args);
  }
  static std::unique_ptr<BackgroundProcess> start(std::vector<std::string> args,
                                                  const std::string& name) {
    args.insert(args.begin() + command_words(args), agent_->http_flag());
    return std::make_unique<BackgroundProcess>(args, tmp_->path() + "/" + name + ".out",
                                               tmp_->path() + "/" + name + ".err");
  }
  // The session holding `key`, from `kv get -detailed` ("" when none or no key).
  static std::string holder(const std::string& key) {
    const ProcessResult r = run({"kv", "get", "-detailed", key});
    std::smatch m;
    static const std::regex line("\nSession +([^\n]+)\n");
    if (r.exit_code != 0 || !std::regex_search(r.out, m, line) || m[1] == "-") return "";
    return m[1];
  }
  static Json sessions() {
    return Json::parse(curl("GET", agent_->url("/v1/session/list")), nullptr, false);
  }
  static bool key_exists(const std::string& key) { return run({"kv", "get", key}).exit_code == 0; }

  // A child that logs "<name> start" and "<name> stop", flags any overlap with another holder
  // through a marker directory, and runs until `stop_file` exists or it is terminated.
  static std::string child(const std::string& name, const std::string& dir,
                           const std::string& stop_file) {
    const std::string log = dir + "/log";
    return "if ! mkdir '" + dir + "/running." + name + "' 2>/dev/null; then exit 9; fi; " +
           "n=$(ls -d '" + dir + "'/running.* | wc -l); echo \"" + name +
           " start $n $CONSUL_LOCK_HELD\" >> '" + log + "'; " + "trap 'rmdir \"" + dir +
           "/running." + name + "\"; echo \"" + name + " stop\" >> \"" + log +
           "\"; exit 0' TERM INT; " + "while [ ! -e '" + stop_file + "' ]; do sleep 0.05; done; " +
           "rmdir '" + dir + "/running." + name + "'; echo \"" + name + " stop\" >> '" + log + "'";
  }

  static TempDir* tmp_;
  static DevAgent* agent_;
};

TempDir* LockTest::tmp_ = nullptr;
DevAgent* LockTest::agent_ = nullptr;

TEST(LockArgsTest, RefusesWhatConsulRefusesBeforeContactingTheAgent) {
  const std::string addr = "-http-addr=127.0.0.1:" + std::to_string(free_port());
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"lock", addr, "-n=0", "p", "true"}, "Lock holder limit must be positive\n"},
      {{"lock", addr, "p"}, "Key prefix and child command must be specified\n"},
      {{"lock", addr}, "Key prefix and child command must be specified\n"},
      {{"lock", addr, "-timeout=-1s", "p", "true"}, "Timeout must be positive\n"},
      {{"lock", addr, "-monitor-retry=-1", "p", "true"},
       "Number for 'monitor-retry' must be >= 0\n"},
  };
  for (const auto& c : cases) {
    const ProcessResult r = run_praetor(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.err;
    EXPECT_EQ(r.err, c.err);
  }
  const ProcessResult bad = run_praetor({"lock", addr, "-timeout=soon", "p", "true"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(bad.err.starts_with("invalid value \"soon\" for flag -timeout: parse error\n"));
}

TEST_F(LockTest, RunsTheChildWhileHeldThenReleasesAndCleansUp) {
  const ProcessResult r = run({"lock", "-verbose", "solo",
                               "echo \"held=$CONSUL_LOCK_HELD\"; " + std::string(PRAETOR_BINARY) +
                                   " kv get " + agent_->http_flag() + " -detailed solo/.lock"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(
      r.out.starts_with("Setting up lock at path: solo/.lock\n"
                        "Attempting lock acquisition\n"
                        "Starting handler\n"
                        "held=true\n"))
      << r.out;
  // While the child ran the key was Consul's lock: its flags and a session.
  EXPECT_NE(r.out.find("Flags            3304740253564472344\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Session          -\n"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("Child terminated, releasing lock\nCleanup succeeded\n")) << r.out;
  EXPECT_FALSE(key_exists("solo/.lock"));
  EXPECT_EQ(sessions(), Json::array());
}

TEST_F(LockTest, TheChildsFailureIsPropagatedOnlyWithChildExitCode) {
  const ProcessResult quiet = run({"lock", "fails", "exit 7"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "Error running handler: exit status 7\n");
  const ProcessResult loud = run({"lock", "-child-exit-code", "fails", "exit 7"});
  EXPECT_EQ(loud.exit_code, 2);
  EXPECT_EQ(sessions(), Json::array());
}

TEST_F(LockTest, TwoContendersTakeTurnsAndDestroyingTheHoldersSessionHandsTheLockOver) {
  const std::string dir = tmp_->path() + "/mutex";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const std::string stop_file = dir + "/stop";
  auto a = start({"lock", "-verbose", "mutex", child("A", dir, stop_file)}, "mutex-a");
  ASSERT_TRUE(eventually([&] {
    return read_file(dir + "/log").find("A start 1 true") != std::string::npos;
  })) << a->out()
      << a->err();
  const std::string session_a = holder("mutex/.lock");
  ASSERT_FALSE(session_a.empty());

  auto b = start({"lock", "-verbose", "mutex", child("B", dir, stop_file)}, "mutex-b");
  // B has made its session and is waiting on the key A holds; its child has not started.
  ASSERT_TRUE(eventually([&] { return sessions().size() == 2; })) << b->out() << b->err();
  ASSERT_TRUE(eventually(
      [&] { return b->out().find("Attempting lock acquisition") != std::string::npos; }));
  EXPECT_EQ(read_file(dir + "/log").find("B start"), std::string::npos);
  EXPECT_EQ(holder("mutex/.lock"), session_a);

  // Invalidate A's session behind its back: A must stop its child and exit; B takes over once
  // the lock-delay (15 s by default) has passed.
  ASSERT_EQ(curl("PUT", agent_->url("/v1/session/destroy/" + session_a)), "true");
  ASSERT_TRUE(
      eventually([&] { return read_file(dir + "/log").find("A stop") != std::string::npos; }, 20s))
      << a->out() << a->err();
  EXPECT_EQ(a->wait(20s), 0) << a->err();
  EXPECT_NE(a->out().find("Lock lost, killing child\n"), std::string::npos) << a->out();
  ASSERT_TRUE(eventually(
      [&] { return read_file(dir + "/log").find("B start 1 true") != std::string::npos; }, 40s))
      << b->out() << b->err();
  const std::string session_b = holder("mutex/.lock");
  EXPECT_FALSE(session_b.empty());
  EXPECT_NE(session_b, session_a);

  // The child ends on its own: B releases, destroys its session and removes the key.
  std::ofstream(stop_file) << "";
  EXPECT_EQ(b->wait(20s), 0) << b->err();
  EXPECT_FALSE(key_exists("mutex/.lock"));
  EXPECT_EQ(sessions(), Json::array());
  // Never two holders at once ("start 1"), and each child ran exactly once.
  const std::string log = read_file(dir + "/log");
  EXPECT_EQ(log, "A start 1 true\nA stop\nB start 1 true\nB stop\n");
}

TEST_F(LockTest, SigintStopsTheChildAndReleases) {
  const std::string dir = tmp_->path() + "/sigint";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  auto a = start({"lock", "interrupted", child("A", dir, dir + "/never")}, "sigint");
  ASSERT_TRUE(eventually([&] {
    return read_file(dir + "/log").find("A start") != std::string::npos;
  })) << a->err();
  a->signal(SIGINT);
  EXPECT_EQ(a->wait(20s), 0) << a->err();
  EXPECT_EQ(read_file(dir + "/log"), "A start 1 true\nA stop\n");
  EXPECT_FALSE(key_exists("interrupted/.lock"));
  EXPECT_EQ(sessions(), Json::array());
}

TEST_F(LockTest, SemaphoreAdmitsNHoldersAndTheNextWhenOneLeaves) {
  const std::string dir = tmp_->path() + "/sem";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const std::string stop_file = dir + "/stop";
  std::vector<std::unique_ptr<BackgroundProcess>> procs;
  for (const char* name : {"A", "B", "C"}) {
    procs.push_back(
        start({"lock", "-n=2", "sem", child(name, dir, stop_file)}, std::string("sem-") + name));
  }
  const auto started = [&] {
    const std::string log = read_file(dir + "/log");
    int n = 0;
    for (std::size_t at = log.find(" start "); at != std::string::npos;
         at = log.find(" start ", at + 1))
      ++n;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return started() == 2 && sessions().size() == 3; }))
      << read_file(dir + "/log");
  // Consul's layout: .lock holds the limit and the holders; each contender has its own key.
  const ProcessResult lock = run({"kv", "get", "sem/.lock"});
  const Json state = Json::parse(lock.out, nullptr, false);
  ASSERT_TRUE(state.is_object()) << lock.out;
  EXPECT_EQ(state["Limit"], 2);
  EXPECT_EQ(state["Holders"].size(), 2u);
  EXPECT_EQ(run({"kv", "get", "-keys", "sem/"}).out.size(),
            std::string("sem/.lock\n").size() + 3 * 41)
      << run({"kv", "get", "-keys", "sem/"}).out;
  EXPECT_EQ(started(), 2);

  // One holder leaves (SIGINT): the waiting one gets its slot, with no lock-delay for a
  // semaphore released by its holder.
  std::size_t leaver = 0;
  const std::string before = read_file(dir + "/log");
  while (before.find(std::string(1, static_cast<char>('A' + leaver)) + " start") ==
         std::string::npos)
    ++leaver;
  procs[leaver]->signal(SIGINT);
  EXPECT_EQ(procs[leaver]->wait(20s), 0) << procs[leaver]->err();
  ASSERT_TRUE(eventually([&] { return started() == 3; }, 30s)) << read_file(dir + "/log");

  std::ofstream(stop_file) << "";
  for (auto& p : procs) EXPECT_EQ(p->wait(20s), 0) << p->err();
  const std::string log = read_file(dir + "/log");
  EXPECT_EQ(log.find(" start 3"), std::string::npos) << log;  // never three at once
  EXPECT_FALSE(key_exists("sem/.lock"));
  EXPECT_EQ(run({"kv", "get", "-keys", "sem/"}).out, "");
  EXPECT_EQ(sessions(), Json::array());
}

TEST_F(LockTest, TimeoutGivesUpWhileAnotherHolds) {
  const std::string dir = tmp_->path() + "/timeout";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  auto a = start({"lock", "busy", child("A", dir, dir + "/stop")}, "timeout-a");
  ASSERT_TRUE(
      eventually([&] { return read_file(dir + "/log").find("A start") != std::string::npos; }));
  const ProcessResult b = run({"lock", "-timeout=1s", "busy", "echo never"});
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_EQ(b.err, "Shutdown triggered or timeout during lock acquisition\n");
  EXPECT_EQ(b.out, "");
  EXPECT_EQ(sessions().size(), 1u);  // B's session went with it
  std::ofstream(dir + "/stop") << "";
  EXPECT_EQ(a->wait(20s), 0);
}

}  // namespace
}  // namespace praetor_cli_test
