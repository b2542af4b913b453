// Byte buffers. Bytes is the unit of every frame, log entry and file the cores hand to a host.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace praetor {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string to_string(ByteView b) { return std::string(b.begin(), b.end()); }

// CRC-32C (Castagnoli), the checksum of frames and log records.
std::uint32_t crc32c(ByteView data, std::uint32_t seed = 0);
// The same checksum by table lookup, one byte at a time: what crc32c() falls back to without
// SSE4.2, and what tests compare the fast path against.
std::uint32_t crc32c_portable(ByteView data, std::uint32_t seed = 0);
// FNV-1a 64: cheap stable hashing (trace hashes, ids); not for integrity.
std::uint64_t fnv1a64(ByteView data, std::uint64_t seed = 0xcbf29ce484222325ULL);
inline std::uint64_t fnv1a64(std::string_view s, std::uint64_t seed = 0xcbf29ce484222325ULL) {
  return fnv1a64(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), seed);
}

std::string base64_encode(ByteView data);
// Accepts standard base64 with or without padding; returns false on any other character.
bool base64_decode(std::string_view text, Bytes& out);

// Little-endian fixed-width helpers for hand-made frame headers.
void put_u32_le(Bytes& out, std::uint32_t v);
void put_u64_le(Bytes& out, std::uint64_t v);
std::uint32_t get_u32_le(const std::uint8_t* p);
std::uint64_t get_u64_le(const std::uint8_t* p);

}  // namespace praetor
