#include "io/log_sink.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/io/test_util.hpp"

namespace praetor::io {
namespace {

TEST(LogSink, FormatsConsulStyleLines) {
  std::tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 10;
  t.tm_mday = 25;
  t.tm_hour = 9;
  t.tm_min = 5;
  t.tm_sec = 7;
  EXPECT_EQ(format_log_line(t, LogLevel::kInfo, "agent", "Joining cluster"),
            "2026/11/25 09:05:07 [INFO] agent: Joining cluster");
  EXPECT_EQ(format_log_line(t, LogLevel::kError, "raft", "x"), "2026/11/25 09:05:07 [ERR] raft: x");
  EXPECT_EQ(format_log_line(t, LogLevel::kWarn, "serf", "y"), "2026/11/25 09:05:07 [WARN] serf: y");
}

TEST(LogSink, FiltersByLevelAndWritesTheFile) {
  testing::TempDir dir;
  std::string path = dir.path() + "/agent.log";
  {
    LogSink sink(LogLevel::kInfo);
    sink.set_stdout(false);
    sink.capture(true);
    ASSERT_TRUE(sink.open_file(path).has_value());
    sink.debug("agent", "hidden {}", 1);
    sink.info("agent", "shown {}", 2);
    sink.warn("raft", "careful");
    EXPECT_FALSE(sink.enabled(LogLevel::kDebug));
    ASSERT_EQ(sink.captured().size(), 2u);
    EXPECT_NE(sink.captured()[0].find("[INFO] agent: shown 2"), std::string::npos);
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("[INFO] agent: shown 2\n"), std::string::npos);
  EXPECT_NE(text.str().find("[WARN] raft: careful\n"), std::string::npos);
  EXPECT_EQ(text.str().find("hidden"), std::string::npos);
}

TEST(LogSink, HeldLinesAppearOnRelease) {
  testing::TempDir dir;
  std::string path = dir.path() + "/held.log";
  LogSink sink(LogLevel::kTrace);
  sink.set_stdout(false);
  ASSERT_TRUE(sink.open_file(path).has_value());
  sink.hold();
  sink.info("agent", "early");
  auto size_of = [&] {
    std::ifstream in(path, std::ios::ate);
    return static_cast<long>(in.tellg());
  };
  EXPECT_EQ(size_of(), 0);
  sink.release();
  EXPECT_GT(size_of(), 0);
}

}  // namespace
}  // namespace praetor::io
