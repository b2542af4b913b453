// Whole scenarios: the reference KV model passes under crash faults, its broken variants are
// caught, kv-smoke (the real dev agent) passes, and every run is deterministic per seed.
#include "sim/scenario.hpp"

#include <gtest/gtest.h>

#include <string>

namespace praetor::sim {
namespace {

ScenarioResult run(std::string_view scenario, std::uint64_t seed) {
  const Scenario* s = find_scenario(scenario);
  PRAETOR_ASSERT_MSG(s != nullptr, "no scenario {}", scenario);
  ScenarioOptions o;
  o.seed = seed;
  return s->run(o);
}

std::string reasons(const ScenarioResult& r) {
  std::string out;
  for (const auto& f : r.failures) out += f + "\n";
  return out;
}

TEST(ScenarioTest, RegistryListsTheScenarios) {
  EXPECT_NE(find_scenario("model-kv"), nullptr);
  EXPECT_NE(find_scenario("model-kv-ack-before-sync"), nullptr);
  EXPECT_EQ(find_scenario("no-such-scenario"), nullptr);
#ifdef PRAETOR_SIM_HAVE_AGENT
  EXPECT_NE(find_scenario("kv-smoke"), nullptr);
#endif
}

TEST(ScenarioTest, ModelKvPassesUnderCrashRestart) {
  int with_crashes = 0;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    ScenarioResult r = run("model-kv", seed);
    ASSERT_TRUE(r.pass) << "seed " << seed << "\n" << reasons(r);
    if (r.faults.find("crashes") != std::string::npos) ++with_crashes;
  }
  EXPECT_GT(with_crashes, 10);  // the swarm really turned crashes on for some seeds
}

TEST(ScenarioTest, AckBeforeSyncLosesAcknowledgedWritesAndIsCaught) {
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    ScenarioResult r = run("model-kv-ack-before-sync", seed);
    if (!r.pass) {
      ++caught;
      EXPECT_NE(reasons(r).find("linearizability"), std::string::npos) << reasons(r);
    }
  }
  EXPECT_GE(caught, 10);
}

TEST(ScenarioTest, StaleReadsAreCaught) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    ScenarioResult r = run("model-kv-stale-reads", seed);
    EXPECT_FALSE(r.pass) << "seed " << seed;
  }
}

TEST(ScenarioTest, SameSeedSameTraceHash) {
  for (std::uint64_t seed : {1, 2, 3, 77}) {
    ScenarioResult a = run("model-kv", seed);
    ScenarioResult b = run("model-kv", seed);
    EXPECT_EQ(a.trace_hash, b.trace_hash) << "seed " << seed;
    EXPECT_EQ(a.steps, b.steps);
  }
  EXPECT_NE(run("model-kv", 1).trace_hash, run("model-kv", 2).trace_hash);
}

#ifdef PRAETOR_SIM_HAVE_AGENT
TEST(KvSmokeTest, DeterministicPerSeed) {
  std::vector<std::uint64_t> hashes;
  for (std::uint64_t seed : {1, 2, 3, 4, 5}) {
    ScenarioResult a = run("kv-smoke", seed);
    ScenarioResult b = run("kv-smoke", seed);
    EXPECT_EQ(a.trace_hash, b.trace_hash) << "seed " << seed;
    hashes.push_back(a.trace_hash);
  }
  std::sort(hashes.begin(), hashes.end());
  EXPECT_EQ(std::unique(hashes.begin(), hashes.end()), hashes.end());
}

TEST(KvSmokeTest, PassesFiftySeeds) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    ScenarioResult r = run("kv-smoke", seed);
    ASSERT_TRUE(r.pass) << "seed " << seed << "\n"
                        << reasons(r) << "replay: praetor-sim run --scenario kv-smoke --seed "
                        << seed;
  }
}

// Three real servers under the full fault swarm: ?consistent reads must be linearizable, and
// the same cluster serving ?stale reads from followers must be caught by the checker.
TEST(KvClusterTest, ConsistentReadsPassTenSeeds) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    ScenarioResult r = run("kv-cluster", seed);
    ASSERT_TRUE(r.pass) << "seed " << seed << "\n"
                        << reasons(r) << "replay: praetor-sim run --scenario kv-cluster --seed "
                        << seed;
  }
}

TEST(KvClusterTest, StaleFollowerReadsAreCaught) {
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed)
    caught += !run("kv-cluster-stale-reads", seed).pass;
  EXPECT_GE(caught, 1);
}
#endif

}  // namespace
}  // namespace praetor::sim
