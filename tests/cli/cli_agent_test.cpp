// An agent in -dev mode on free loopback ports, driven by the kv and leave commands: the
// seed's "start an agent, write and read KV" steps end to end.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <iterator>
#include <thread>

#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

// An agent in -dev mode on free loopback ports, driven by the kv commands.
TEST(CliAgentTest, KvRoundTripAgainstADevAgent) {
  const int http = free_port();
  std::vector<std::string> args = {PRAETOR_BINARY,
                                   "agent",
                                   "-dev",
                                   "-node=cli-test",
                                   "-http-port=" + std::to_string(http),
                                   "-dns-port=-1",
                                   "-server-port=" + std::to_string(free_port()),
                                   "-serf-lan-port=" + std::to_string(free_port()),
                                   "-serf-wan-port=" + std::to_string(free_port())};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The agent's output goes to a file, shown if the test fails.
  TempDir tmp;
  const std::string log_path = tmp.path() + "/agent.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t agent = 0;
  ASSERT_EQ(::posix_spawn(&agent, PRAETOR_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  const std::string addr = "-http-addr=127.0.0.1:" + std::to_string(http);

  // Readiness: the agent answers once it has bound and elected itself.
  ProcessResult put;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  do {
    put = run_praetor({"kv", "put", addr, "seed/mysql/master", "10.64.50.129"});
    if (put.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(put.out, "Success! Data written to: seed/mysql/master\n");
  if (put.exit_code != 0) {
    std::ifstream log(log_path);
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    ADD_FAILURE() << "agent output:\n" << text.substr(0, 4000);
  }

  const ProcessResult get = run_praetor({"kv", "get", addr, "seed/mysql/master"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.out, "10.64.50.129\n");
  const ProcessResult cas =
      run_praetor({"kv", "put", addr, "-cas", "-modify-index=0", "seed/mysql/master", "x"});
  EXPECT_EQ(cas.exit_code, 1);
  EXPECT_EQ(cas.err,
            "Error! Did not write to seed/mysql/master: CAS performed with index=0 and "
            "key already exists.\n");
  const ProcessResult stale =
      run_praetor({"kv", "put", addr, "-cas", "-modify-index=999999", "seed/mysql/master", "x"});
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_EQ(stale.err, "Error! Did not write to seed/mysql/master: CAS failed\n");
  const ProcessResult detailed = run_praetor({"kv", "get", addr, "-detailed", "seed/mysql/master"});
  EXPECT_NE(detailed.out.find("Key              seed/mysql/master\n"), std::string::npos)
      << detailed.out;
  EXPECT_NE(detailed.out.find("Session          -\nValue            10.64.50.129\n"),
            std::string::npos);
  const ProcessResult keys = run_praetor({"kv", "get", addr, "-keys", "seed/"});
  EXPECT_EQ(keys.out, "seed/mysql/\n");
  const ProcessResult recurse = run_praetor({"kv", "get", addr, "-recurse", "seed/"});
  EXPECT_EQ(recurse.out, "seed/mysql/master:10.64.50.129\n");
  const ProcessResult del = run_praetor({"kv", "delete", addr, "-recurse", "seed/"});
  EXPECT_EQ(del.out, "Success! Deleted keys with prefix: seed/\n");
  const ProcessResult gone_keys = run_praetor({"kv", "get", addr, "-recurse", "seed/"});
  EXPECT_EQ(gone_keys.exit_code, 0);  // an empty prefix listing is not an error
  EXPECT_EQ(gone_keys.out, "");
  const ProcessResult gone = run_praetor({"kv", "get", addr, "seed/mysql/master"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.err, "Error! No key exists at: seed/mysql/master\n");
  const ProcessResult leave = run_praetor({"leave", addr});
  EXPECT_EQ(leave.exit_code, 0) << leave.err;
  EXPECT_EQ(leave.out, "Graceful leave complete\n");

  // The agent exits after a graceful leave; make sure it is gone either way.
  int status = 0;
  for (int i = 0; i < 100 && ::waitpid(agent, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (i == 99) {
      ::kill(agent, SIGKILL);
      ::waitpid(agent, &status, 0);
      ADD_FAILURE() << "agent did not exit after leave";
    }
  }
}

}  // namespace
}  // namespace praetor_cli_test
