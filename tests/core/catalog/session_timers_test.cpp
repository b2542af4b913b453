#include "core/catalog/session_timers.hpp"

#include <gtest/gtest.h>

namespace praetor::catalog {
namespace {

const Instant t0 = Instant::from_ns(1'000'000'000);

TEST(SessionTimers, ExpireAfterTwiceTheTtl) {
  SessionTimers timers;
  EXPECT_EQ(timers.next_deadline(), Instant::never());
  timers.reset("a", Duration::seconds(10), t0);
  timers.reset("b", Duration::seconds(15), t0);
  EXPECT_EQ(timers.next_deadline(), t0 + Duration::seconds(20));
  EXPECT_TRUE(timers.take_expired(t0 + Duration::seconds(19)).empty());
  EXPECT_EQ(timers.take_expired(t0 + Duration::seconds(20)), std::vector<std::string>{"a"});
  EXPECT_FALSE(timers.contains("a"));
  EXPECT_EQ(timers.next_deadline(), t0 + Duration::seconds(30));
  timers.check_invariants();
}

TEST(SessionTimers, ResetPushesTheDeadlineAndRemoveStopsIt) {
  SessionTimers timers;
  timers.reset("a", Duration::seconds(10), t0);
  timers.reset("a", Duration::seconds(10), t0 + Duration::seconds(15));
  EXPECT_EQ(timers.size(), 1u);
  EXPECT_TRUE(timers.take_expired(t0 + Duration::seconds(34)).empty());
  EXPECT_EQ(timers.take_expired(t0 + Duration::seconds(35)), std::vector<std::string>{"a"});
  timers.reset("b", Duration::seconds(10), t0);
  timers.remove("b");
  timers.remove("b");
  EXPECT_EQ(timers.next_deadline(), Instant::never());
  timers.reset("c", Duration::seconds(10), t0);
  timers.clear();
  EXPECT_EQ(timers.size(), 0u);
  timers.check_invariants();
}

}  // namespace
}  // namespace praetor::catalog
