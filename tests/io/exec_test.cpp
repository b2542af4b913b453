// UvExec: exit codes, captured output and its tail, a timeout that kills the whole process group,
// and a program that cannot start.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "io/uv_exec.hpp"

namespace praetor::io {
namespace {

class ExecTest : public ::testing::Test {
 protected:
  ExecTest() { uv_loop_init(&loop_); }
  ~ExecTest() override {
    exec_.close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  node::ExecResult run_one(node::ExecSpec spec) {
    results_.clear();
    exec_.run(CheckRunId(1), std::move(spec));
    EXPECT_TRUE(results_.empty());  // never completed from inside run()
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(results_.size(), 1u);
    return results_.empty() ? node::ExecResult{} : results_.front();
  }

  static node::ExecSpec shell(std::string script, Duration timeout = Duration::seconds(10),
                              std::size_t max = 4096) {
    return node::ExecSpec::program({"/bin/sh", "-c", std::move(script)}, timeout, max);
  }

  uv_loop_t loop_{};
  NullLogger logger_;
  std::vector<node::ExecResult> results_;
  UvExec exec_{&loop_, logger_,
               [this](CheckRunId, node::ExecResult r) { results_.push_back(std::move(r)); }};
};

TEST_F(ExecTest, ExitCodes) {
  for (int code : {0, 1, 2}) {
    auto r = run_one(shell(fmt::format("exit {}", code)));
    EXPECT_EQ(r.exit_code, code);
    EXPECT_FALSE(r.timed_out);
    EXPECT_FALSE(r.spawn_failed);
  }
}

TEST_F(ExecTest, CapturesStdoutAndStderr) {
  auto r = run_one(shell("echo to-out; echo to-err >&2"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("to-out\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("to-err\n"), std::string::npos) << r.output;
}

TEST_F(ExecTest, KeepsTheTailOfLongOutput) {
  auto r =
      run_one(shell("i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done; "
                    "echo TAIL-END",
                    Duration::seconds(20), 100));
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.output.size(), 100u);
  EXPECT_EQ(r.output.substr(r.output.size() - 9), "TAIL-END\n");
  EXPECT_NE(r.output.find("line2999\n"), std::string::npos);
}

bool process_gone(int pid) {
  if (::kill(pid, 0) != 0) return true;
  // Still in the table: a zombie waiting for a reaper counts as gone.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

TEST_F(ExecTest, TimeoutKillsTheWholeProcessGroup) {
  auto started = std::chrono::steady_clock::now();
  // The shell starts a background sleep (same group), reports its pid, then sleeps itself.
  auto r = run_one(shell("sleep 30 & echo $!; sleep 30", Duration::milliseconds(500)));
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  int background = std::atoi(r.output.c_str());
  ASSERT_GT(background, 0) << r.output;
  // SIGKILL went to the group; give the kernel a moment to finish the grandchild off.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = process_gone(background);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "background sleep " << background << " survived the timeout";
}

TEST_F(ExecTest, MissingProgramIsASpawnFailure) {
  auto r =
      run_one(node::ExecSpec::program({"/nonexistent/praetor-check"}, Duration::seconds(1), 100));
  EXPECT_TRUE(r.spawn_failed);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.output.empty());
}

TEST_F(ExecTest, CloseKillsRunningChildrenWithoutResults) {
  exec_.run(CheckRunId(9), shell("sleep 30"));
  EXPECT_EQ(exec_.running(), 1u);
  exec_.close();
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(exec_.closed());
  EXPECT_TRUE(results_.empty());
}

}  // namespace
}  // namespace praetor::io
