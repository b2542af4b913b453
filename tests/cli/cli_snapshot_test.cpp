// `praetor snapshot save|restore|inspect` against a running `praetor agent -dev` on 127.0.0.52
// (this test's own address): keys saved, changed and deleted, then restored; inspect's counts;
// a corrupted or truncated file refused with exit code 1 and a sentence.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

constexpr const char* kAddress = "127.0.0.52";
const std::string kHttpAddr = "-http-addr=127.0.0.52:8500";

class SnapshotCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    const std::string log_path = tmp_->path() + "/agent.log";
    std::vector<std::string> args = {PRAETOR_BINARY,
                                     "agent",
                                     "-dev",
                                     "-node=cli-snapshot",
                                     std::string("-bind=") + kAddress,
                                     std::string("-client=") + kAddress};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    ASSERT_EQ(::posix_spawn(&agent_, PRAETOR_BINARY, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    // Readiness: polling a real process until it answers, with a deadline.
    const bool ready = eventually([] {
      return run_praetor({"kv", "put", kHttpAddr, "readiness", "1"}).exit_code == 0;
    });
    if (!ready) FAIL() << "agent on " << kAddress << " never answered:\n" << read_file(log_path);
  }

  static void TearDownTestSuite() {
    if (agent_ > 0) {
      ::kill(agent_, SIGKILL);
      int status = 0;
      ::waitpid(agent_, &status, 0);
      agent_ = 0;
    }
    delete tmp_;
    tmp_ = nullptr;
  }

  static ProcessResult praetor(const std::string& group, const std::string& sub,
                               std::vector<std::string> rest, bool http = true) {
    std::vector<std::string> args = {group, sub};
    if (http) args.push_back(kHttpAddr);
    args.insert(args.end(), rest.begin(), rest.end());
    return run_praetor(args);
  }
  static std::string get(const std::string& key) {
    const ProcessResult r = praetor("kv", "get", {key});
    return r.exit_code == 0 ? r.out : "<missing>";
  }

  static TempDir* tmp_;
  static pid_t agent_;
};

TempDir* SnapshotCliTest::tmp_ = nullptr;
pid_t SnapshotCliTest::agent_ = 0;

TEST_F(SnapshotCliTest, SaveChangeRestoreBringsTheKeysBack) {
  ASSERT_EQ(praetor("kv", "put", {"cfg/a", "alpha"}).exit_code, 0);
  ASSERT_EQ(praetor("kv", "put", {"cfg/b", "beta"}).exit_code, 0);
  ASSERT_EQ(praetor("kv", "put", {"-base64", "cfg/bin", "AP8BgA0KAHw="}).exit_code, 0);
  const std::string file = tmp_->path() + "/backup.snap";
  const ProcessResult saved = praetor("snapshot", "save", {file});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  EXPECT_TRUE(saved.out.starts_with("Saved and verified snapshot to index ")) << saved.out;
  EXPECT_EQ(saved.err, "");
  // Written whole under its name, no temporary left behind, private to the user.
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(run_praetor({"snapshot", "inspect", file}).exit_code, 0);

  ASSERT_EQ(praetor("kv", "put", {"cfg/a", "changed"}).exit_code, 0);
  ASSERT_EQ(praetor("kv", "delete", {"cfg/b"}).exit_code, 0);
  ASSERT_EQ(praetor("kv", "put", {"cfg/new", "later"}).exit_code, 0);
  ASSERT_EQ(get("cfg/b"), "<missing>");

  const ProcessResult restored = praetor("snapshot", "restore", {file});
  EXPECT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(restored.out, "Restored snapshot\n");
  EXPECT_EQ(get("cfg/a"), "alpha\n");
  EXPECT_EQ(get("cfg/b"), "beta\n");
  EXPECT_EQ(get("cfg/new"), "<missing>");
  const ProcessResult bin = praetor("kv", "get", {"-base64", "cfg/bin"});
  EXPECT_EQ(bin.out, "AP8BgA0KAHw=\n");
  // The agent keeps working: writes after the restore land above it.
  EXPECT_EQ(praetor("kv", "put", {"cfg/after", "x"}).exit_code, 0);
  EXPECT_EQ(get("cfg/after"), "x\n");
}

TEST_F(SnapshotCliTest, InspectPrintsTheHeaderAndPerTableCounts) {
  ASSERT_EQ(praetor("kv", "delete", {"-recurse", "count/"}).exit_code, 0);
  const std::string file = tmp_->path() + "/inspect.snap";
  ASSERT_EQ(praetor("snapshot", "save", {"-stale", file}).exit_code, 0);
  const ProcessResult before = run_praetor({"snapshot", "inspect", file});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  for (const char* field :
       {" ID ", " Size ", " Index ", " Term ", " Version ", " SHA-256 ", " Type ", " KV ", " Node ",
        " Service ", " Check ", " Session ", " Total "}) {
    EXPECT_NE(before.out.find(field), std::string::npos) << field << " in\n" << before.out;
  }
  // Three more keys are three more KV records; the dev agent's own node is in the catalog.
  for (const char* k : {"count/1", "count/2", "count/3"}) {
    ASSERT_EQ(praetor("kv", "put", {k, "v"}).exit_code, 0);
  }
  ASSERT_EQ(praetor("snapshot", "save", {file}).exit_code, 0);
  const ProcessResult after = run_praetor({"snapshot", "inspect", file});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto count_of = [](const std::string& out, const std::string& type) {
    const auto at = out.find("\n " + type + " ");
    if (at == std::string::npos) return -1;
    return std::atoi(out.c_str() + out.find_first_not_of(' ', at + 2 + type.size()));
  };
  EXPECT_EQ(count_of(after.out, "KV"), count_of(before.out, "KV") + 3) << after.out;
  EXPECT_GE(count_of(after.out, "Node"), 1) << after.out;
  EXPECT_GE(count_of(after.out, "Check"), 1) << after.out;
}

TEST_F(SnapshotCliTest, CorruptedAndTruncatedFilesAreRefused) {
  ASSERT_EQ(praetor("kv", "put", {"guard", "kept"}).exit_code, 0);
  const std::string file = tmp_->path() + "/good.snap";
  ASSERT_EQ(praetor("snapshot", "save", {file}).exit_code, 0);
  std::string bytes = read_file(file);
  ASSERT_GT(bytes.size(), 100u);

  std::string flipped = bytes;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x20);
  const std::string bad = tmp_->write("flipped.snap", flipped);
  const ProcessResult refused = praetor("snapshot", "restore", {bad});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("checksum mismatch"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("400"), std::string::npos) << refused.err;
  const ProcessResult inspected = run_praetor({"snapshot", "inspect", bad});
  EXPECT_EQ(inspected.exit_code, 1);
  EXPECT_NE(inspected.err.find("Error verifying snapshot"), std::string::npos) << inspected.err;

  const std::string cut = tmp_->write("cut.snap", bytes.substr(0, bytes.size() - 40));
  const ProcessResult truncated = praetor("snapshot", "restore", {cut});
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_NE(truncated.err.find("truncated"), std::string::npos) << truncated.err;

  const std::string junk = tmp_->write("junk.snap", "hello, not a snapshot");
  const ProcessResult foreign = praetor("snapshot", "restore", {junk});
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_NE(foreign.err.find("not a praetor snapshot"), std::string::npos) << foreign.err;
  // Nothing was restored: the key written after the save is still there.
  ASSERT_EQ(praetor("kv", "put", {"guard", "still"}).exit_code, 0);
  EXPECT_EQ(get("guard"), "still\n");
}

TEST_F(SnapshotCliTest, UsageErrorsExitOne) {
  EXPECT_EQ(run_praetor({"snapshot"}).exit_code, 1);
  EXPECT_EQ(run_praetor({"snapshot", "bogus"}).exit_code, 1);
  EXPECT_EQ(run_praetor({"snapshot", "inspect"}).exit_code, 1);
  const ProcessResult missing = run_praetor({"snapshot", "inspect", "/nonexistent/x.snap"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("Error opening snapshot file"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace praetor_cli_test
