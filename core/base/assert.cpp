#include "core/base/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace praetor {

void assert_fail(std::string_view condition, std::string_view file, int line,
                 std::string_view message) {
  // The crash path is the one place core/ writes to a stream: there is nobody left to return to.
  std::fprintf(stderr, "praetor: assertion failed: %.*s at %.*s:%d%s%.*s\n",
               static_cast<int>(condition.size()), condition.data(),
               static_cast<int>(file.size()), file.data(), line, message.empty() ? "" : ": ",
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace praetor
