// Always-on assertions. A failed assertion is a programmer error: it prints where and why, then
// aborts, in every build type. Expected failures (bad input, I/O) use Result<T> instead.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace praetor {

[[noreturn]] void assert_fail(std::string_view condition, std::string_view file, int line,
                              std::string_view message);

}  // namespace praetor

#define PRAETOR_ASSERT(cond)                                     \
  do {                                                           \
    if (!(cond)) [[unlikely]] {                                  \
      ::praetor::assert_fail(#cond, __FILE__, __LINE__, "");     \
    }                                                            \
  } while (false)

#define PRAETOR_ASSERT_MSG(cond, ...)                                                    \
  do {                                                                                   \
    if (!(cond)) [[unlikely]] {                                                          \
      ::praetor::assert_fail(#cond, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__));     \
    }                                                                                    \
  } while (false)

#define PRAETOR_UNREACHABLE() ::praetor::assert_fail("unreachable", __FILE__, __LINE__, "")
