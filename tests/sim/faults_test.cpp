// Fault plans: the seed picks which classes are on (swarm) and their rates within range; a
// profile can forbid classes; installed plans really crash, partition and heal.
#include "sim/faults.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "tests/sim/test_processes.hpp"

namespace praetor::sim {
namespace {

TEST(FaultPlanTest, SwarmTogglesClassesAndKeepsRatesInRange) {
  FaultProfile all;
  int loss = 0, crashes = 0, partitions = 0, skew = 0;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    Rng rng(seed);
    FaultPlan p = plan_faults(rng, all);
    ASSERT_GE(p.loss, 0.0);
    ASSERT_LE(p.loss, 0.30);
    ASSERT_LE(p.duplicate, 0.50);
    ASSERT_LE(p.drift_ppm_max, 500);
    loss += p.loss > 0;
    crashes += p.crashes;
    partitions += p.partitions;
    skew += p.skew;
  }
  // Each class is on for roughly a quarter to a half of the seeds, never for all or none.
  for (int count : {loss, crashes, partitions, skew}) {
    EXPECT_GT(count, 40);
    EXPECT_LT(count, 260);
  }
}

TEST(FaultPlanTest, ProfileForbidsClassesWithoutReshufflingOthers) {
  FaultProfile none;
  none.network = none.partitions = none.clogs = none.crashes = false;
  FaultProfile all;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    Rng a(seed), b(seed);
    FaultPlan restricted = plan_faults(a, none);
    FaultPlan full = plan_faults(b, all);
    EXPECT_EQ(restricted.loss, 0.0);
    EXPECT_FALSE(restricted.crashes || restricted.partitions || restricted.clogs);
    EXPECT_EQ(restricted.skew, full.skew);
    EXPECT_EQ(restricted.client_delay_max, full.client_delay_max);
  }
}

TEST(FaultPlanTest, InstalledCrashesRestartAndEverythingHealsAtTheEnd) {
  FaultPlan plan;
  plan.crashes = true;
  plan.partitions = true;
  plan.nemesis_gap = Duration::milliseconds(200);
  plan.nemesis_duration_max = Duration::milliseconds(500);
  World world(99);
  world.trace().set_keep(true);
  for (int i = 1; i <= 3; ++i) {
    NodeOptions o;
    o.name = fmt::format("n{}", i);
    o.addresses = {fmt::format("10.0.0.{}", i)};
    world.add_process(o, [] { return std::make_unique<testing::Recorder>(); });
  }
  Instant until = Instant::zero() + Duration::seconds(10);
  install_faults(world, plan, Rng(5), Instant::zero(), until);
  int crashes = 0, restarts = 0, partitions = 0;
  world.run_until(until);
  for (const auto& line : world.trace().kept()) {
    crashes += line.find("crash unsynced") != std::string::npos;
    restarts += line.find("<- start incarnation=2") != std::string::npos;
    partitions += line.find("nemesis cuts") != std::string::npos;
  }
  EXPECT_GT(crashes, 0);
  EXPECT_GT(restarts, 0);
  EXPECT_GT(partitions, 0);
  world.run_for(Duration::milliseconds(1));
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(world.is_up(fmt::format("n{}", i)));
  EXPECT_FALSE(world.network().any_partition());
}

}  // namespace
}  // namespace praetor::sim
