// SHA-256 (FIPS 180-4), the checksum of snapshot archives (/v1/snapshot). Written here rather
// than taken from OpenSSL so that core/ stays a pure computation: OpenSSL 3 fetches its digests
// from providers it may configure from files and the environment (OPENSSL_CONF) on first use,
// which core/ must not do (decision D41). The tests check it against OpenSSL.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/base/bytes.hpp"

namespace praetor {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Incremental: update() any number of times, then finish() once.
class Sha256 {
 public:
  Sha256();
  void update(ByteView data);
  Sha256Digest finish();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

Sha256Digest sha256(ByteView data);
std::string to_hex(const Sha256Digest& digest);

}  // namespace praetor
