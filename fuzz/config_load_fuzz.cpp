// Fuzzes the config loader: any file content yields a configuration or an error naming the
// file, never a crash or a hang.
#include <cstdint>
#include <string>

#include "core/node/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace praetor;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<node::ConfigSource> sources{{"fuzz.json", text}};
  auto config = node::load_config(sources, /*dev=*/true);
  if (!config) {
    PRAETOR_ASSERT_MSG(config.error().message.find("fuzz.json") != std::string::npos,
                       "config error does not name its file: {}", config.error().message);
  }
  return 0;
}
