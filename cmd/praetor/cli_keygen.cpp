// `praetor keygen`: a random 32-byte gossip key (AES-256), base64, for `encrypt` / -encrypt.
#include <fmt/format.h>

#include <cstdio>

#include "cmd/praetor/commands.hpp"
#include "core/base/bytes.hpp"

namespace praetor::cmd {

int run_keygen(Args args) {
  if (!args.empty()) {
    fmt::print(stderr, "Usage: praetor keygen\n");
    return 1;
  }
  Bytes key(32);
  std::FILE* f = std::fopen("/dev/urandom", "rb");
  const bool read_ok = f != nullptr && std::fread(key.data(), 1, key.size(), f) == key.size();
  if (f != nullptr) std::fclose(f);
  if (!read_ok) {
    fmt::print(stderr, "Error reading random data: /dev/urandom\n");
    return 1;
  }
  fmt::print("{}\n", base64_encode(key));
  return 0;
}

}  // namespace praetor::cmd
