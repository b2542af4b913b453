// RaftLogNames: the Raft core's lines reach the log with server names for ids, and its info lines
// at debug (the agent logs Consul's lines for the same events at info).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/node/raft_log_names.hpp"

namespace praetor::node {
namespace {

class Lines final : public Logger {
 public:
  explicit Lines(LogLevel min) : min_(min) {}
  void log(LogLevel level, std::string_view subsystem, std::string_view message) override {
    lines.push_back(fmt::format("[{}] {}: {}", log_level_name(level), subsystem, message));
  }
  bool enabled(LogLevel level) const override { return level >= min_; }
  std::vector<std::string> lines;

 private:
  LogLevel min_;
};

RaftLogNames::NameOf names() {
  return [](std::uint64_t id) -> std::optional<std::string> {
    if (id == 11583297489872682866ULL) return "S1";
    if (id == 1836357217867128738ULL) return "S3";
    return std::nullopt;
  };
}

TEST(RaftLogNames, IdsOfKnownServersBecomeNamesAndInfoBecomesDebug) {
  Lines out(LogLevel::kDebug);
  RaftLogNames log(out, names());
  log.info("raft", "node {}: New leader elected: leader={} term={}", 11583297489872682866ULL,
           1836357217867128738ULL, 2);
  log.warn("raft", "node {}: two leaders claim term {}: from {}", 11583297489872682866ULL, 7,
           4242424242424242ULL);
  ASSERT_EQ(out.lines.size(), 2U);
  EXPECT_EQ(out.lines[0], "[DEBUG] raft: node S1: New leader elected: leader=S3 term=2");
  // Short numbers (terms, indexes) and unknown ids are left as they are.
  EXPECT_EQ(out.lines[1], "[WARN] raft: node S1: two leaders claim term 7: from 4242424242424242");
}

TEST(RaftLogNames, AtTheDefaultLevelTheCoresInfoLinesAreNotShown) {
  Lines out(LogLevel::kInfo);
  RaftLogNames log(out, names());
  EXPECT_FALSE(log.enabled(LogLevel::kInfo));
  EXPECT_TRUE(log.enabled(LogLevel::kWarn));
  log.info("raft", "node {}: entering Leader state in term {}", 11583297489872682866ULL, 3);
  log.error("raft", "node {}: broken", 1836357217867128738ULL);
  ASSERT_EQ(out.lines.size(), 1U);
  EXPECT_EQ(out.lines[0], "[ERR] raft: node S3: broken");
}

}  // namespace
}  // namespace praetor::node
