#include "core/base/result.hpp"

#include <gtest/gtest.h>

namespace praetor {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return make_error(ErrorCode::kInvalidArgument, "odd");
  return x / 2;
}

Result<void> check_even(int x) {
  PRAETOR_TRY_VOID(half(x));
  return ok();
}

TEST(Result, CarriesValueOrError) {
  auto a = half(8);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 4);
  auto b = half(3);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(b.error().message, "odd");
}

TEST(Result, TryPropagatesErrors) {
  EXPECT_TRUE(check_even(2));
  auto r = check_even(5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "odd");
}

TEST(ResultDeathTest, ValueOnErrorAborts) {
  auto r = half(1);
  EXPECT_DEATH((void)r.value(), "assertion failed");
}

}  // namespace
}  // namespace praetor
