#include "core/base/duration.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace praetor {
namespace {

std::int64_t ns(std::string_view text) {
  auto d = parse_go_duration(text);
  EXPECT_TRUE(d) << text << ": " << (d ? "" : d.error().message);
  return d ? d->count_ns() : -1;
}

TEST(GoDuration, ParsesConsulStyleValues) {
  EXPECT_EQ(ns("15s"), 15'000'000'000);
  EXPECT_EQ(ns("15.0s"), 15'000'000'000);
  EXPECT_EQ(ns("0.001s"), 1'000'000);
  EXPECT_EQ(ns("9.87s"), 9'870'000'000);
  EXPECT_EQ(ns("1.5m"), 90'000'000'000);
  EXPECT_EQ(ns("1h30m"), 5'400'000'000'000);
  EXPECT_EQ(ns("100ms"), 100'000'000);
  EXPECT_EQ(ns("2us"), 2'000);
  EXPECT_EQ(ns("3\xc2\xb5s"), 3'000);
  EXPECT_EQ(ns("0"), 0);
  EXPECT_EQ(ns("-1s"), -1'000'000'000);
  EXPECT_EQ(ns("72h"), 72LL * 3600 * 1'000'000'000);
}

TEST(GoDuration, RejectsGarbage) {
  for (auto bad : {"", "s", "15", "15x", "1.s.", "abc", "1h-2m", "99999999999999999999s",
                   "3000000h", "."}) {
    auto d = parse_go_duration(bad);
    EXPECT_FALSE(d) << bad;
    if (!d) {
      EXPECT_NE(d.error().message.find("invalid duration"), std::string::npos);
    }
  }
}

TEST(GoDuration, FormatsLikeGo) {
  EXPECT_EQ(format_go_duration(Duration::zero()), "0s");
  EXPECT_EQ(format_go_duration(Duration::seconds(15)), "15s");
  EXPECT_EQ(format_go_duration(Duration::milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_go_duration(Duration::milliseconds(100)), "100ms");
  EXPECT_EQ(format_go_duration(Duration::seconds(90)), "1m30s");
  EXPECT_EQ(format_go_duration(Duration::hours(72)), "72h0m0s");
  EXPECT_EQ(format_go_duration(Duration::nanoseconds(42)), "42ns");
}

RC_GTEST_PROP(GoDuration, FormatThenParseIsIdentity, (std::int64_t raw)) {
  const auto d = Duration::nanoseconds(raw / 4);  // stay clear of the int64 edges
  auto back = parse_go_duration(format_go_duration(d));
  RC_ASSERT(back.has_value());
  RC_ASSERT(back->count_ns() == d.count_ns());
}

}  // namespace
}  // namespace praetor
