// Transcript tests: a scripted scenario on the deterministic driver, rendered as timestamped
// events and log lines and compared with a reviewed file under testdata/. After an intended
// behaviour change, regenerate with PRAETOR_REWRITE=1 and review the diff like code.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/gossip/format.hpp"
#include "tests/core/gossip/cluster.hpp"

namespace praetor::gossip {
namespace {

using testing::Cluster;
using testing::node_address;
using testing::node_name;

class RecordingLogger final : public Logger {
 public:
  std::function<Instant()> clock;
  std::vector<std::string>* lines = nullptr;
  void log(LogLevel level, std::string_view subsystem, std::string_view message) override {
    lines->push_back(
        fmt::format("{} [{}] {}: {}", clock(), log_level_name(level), subsystem, message));
  }
  bool enabled(LogLevel level) const override { return level >= LogLevel::kInfo; }
};

void compare_with_file(const std::vector<std::string>& lines, const std::string& name) {
  const std::string path = std::string(GOSSIP_TESTDATA) + "/" + name;
  std::string rendered;
  for (const std::string& l : lines) rendered += l + "\n";
  if (std::getenv("PRAETOR_REWRITE") != nullptr) {
    std::ofstream(path) << rendered;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing " << path << " (run with PRAETOR_REWRITE=1)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(rendered, expected.str()) << "transcript " << name << " differs";
}

TEST(GossipTranscript, CrashSuspectDead) {
  std::vector<std::string> lines;
  RecordingLogger logger;
  logger.lines = &lines;
  Cluster<Swim> c({.nodes = 3, .seed = 1, .logger = &logger},
                  [](std::size_t i) { return Config::lan(node_name(i), node_address(i)); });
  logger.clock = [&c] { return c.now(); };
  c.on_event = [&](std::size_t i, Instant at, const MemberEvent& e) {
    lines.push_back(fmt::format("{} {} event: {}", at, node_name(i), e));
  };
  lines.push_back("> join n1 n0; join n2 n0; run 5s");
  c.join_all_to(0);
  c.run_for(Duration::seconds(5));
  lines.push_back("> crash n2; run 30s");
  c.crash(2);
  c.run_for(Duration::seconds(30));
  lines.push_back("> members");
  for (std::size_t i = 0; i < 2; ++i) {
    std::string members;
    for (const auto& [name, m] : c.node(i).members()) {
      members += fmt::format(" {}={}/{}", name, m.state, m.incarnation);
    }
    lines.push_back(fmt::format("{}:{}", node_name(i), members));
  }
  compare_with_file(lines, "swim_crash.txt");
}

TEST(GossipTranscript, SerfLeaveAndUserEvent) {
  std::vector<std::string> lines;
  RecordingLogger logger;
  logger.lines = &lines;
  Cluster<Serf> c({.nodes = 3, .seed = 2, .logger = &logger}, [](std::size_t i) {
    SerfConfig config = SerfConfig::local(node_name(i), node_address(i));
    config.tags = {{"role", "node"}, {"dc", "dc1"}};
    return config;
  });
  logger.clock = [&c] { return c.now(); };
  c.on_event = [&](std::size_t i, Instant at, const SerfEvent& e) {
    lines.push_back(fmt::format("{} {} event: {}", at, node_name(i), e));
  };
  lines.push_back("> join n1 n0; join n2 n0; run 3s");
  c.join_all_to(0);
  c.run_for(Duration::seconds(3));
  lines.push_back("> user-event n1 deploy v1; run 2s");
  ASSERT_TRUE(c.act(1, [&](Serf& n) { return n.user_event(c.now(), "deploy", to_bytes("v1")); }));
  c.run_for(Duration::seconds(2));
  lines.push_back("> leave n2; run 5s");
  c.act(2, [&](auto& n) { n.leave(c.now()); });
  c.run_for(Duration::seconds(5));
  compare_with_file(lines, "serf_leave.txt");
}

}  // namespace
}  // namespace praetor::gossip
