#include "core/catalog/archive.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "core/base/assert.hpp"
#include "core/base/sha256.hpp"

namespace praetor::catalog {
namespace {

constexpr std::string_view kMagic = "PRAETSNP";
static_assert(kMagic.size() + 2 + 4 * 8 == kArchiveHeaderBytes);

std::uint16_t get_u16_le(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

}  // namespace

std::string ArchiveMeta::id() const {
  return fmt::format("{}-{}-{}", term, index, created_unix_ms);
}

Bytes write_archive(const ArchiveMeta& meta, ByteView state) {
  Bytes out;
  out.reserve(kArchiveHeaderBytes + state.size() + kArchiveDigestBytes);
  // Byte by byte: g++ 12 at -O2 misreads a char-range insert into an empty reserved vector as an
  // overflow (-Wstringop-overflow).
  for (char ch : kMagic) out.push_back(static_cast<std::uint8_t>(ch));
  out.push_back(static_cast<std::uint8_t>(meta.version & 0xff));
  out.push_back(static_cast<std::uint8_t>(meta.version >> 8));
  put_u64_le(out, meta.index);
  put_u64_le(out, meta.term);
  put_u64_le(out, static_cast<std::uint64_t>(meta.created_unix_ms));
  put_u64_le(out, state.size());
  PRAETOR_ASSERT(out.size() == kArchiveHeaderBytes);
  out.insert(out.end(), state.begin(), state.end());
  const Sha256Digest digest = sha256(out);
  out.insert(out.end(), digest.begin(), digest.end());
  return out;
}

Result<Archive> read_archive(ByteView data) {
  // The magic first: a file that is not an archive at all should say so, not "truncated".
  const std::size_t magic_bytes = std::min(data.size(), kMagic.size());
  if (data.empty() || std::memcmp(data.data(), kMagic.data(), magic_bytes) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not a praetor snapshot archive (it does not start with PRAETSNP)");
  }
  if (data.size() < kArchiveHeaderBytes + kArchiveDigestBytes) {
    return make_error(ErrorCode::kCorruption,
                      fmt::format("snapshot archive is truncated: {} bytes, shorter than its "
                                  "header and checksum ({} bytes)",
                                  data.size(), kArchiveHeaderBytes + kArchiveDigestBytes));
  }
  Archive archive;
  const std::uint8_t* p = data.data() + kMagic.size();
  archive.meta.version = get_u16_le(p);
  if (archive.meta.version != kArchiveVersion) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("snapshot archive format version {} is not supported (this "
                                  "build reads version {})",
                                  archive.meta.version, kArchiveVersion));
  }
  archive.meta.index = get_u64_le(p + 2);
  archive.meta.term = get_u64_le(p + 10);
  archive.meta.created_unix_ms = static_cast<std::int64_t>(get_u64_le(p + 18));
  const std::uint64_t state_bytes = get_u64_le(p + 26);
  const std::uint64_t room = data.size() - kArchiveHeaderBytes - kArchiveDigestBytes;
  if (state_bytes > room) {
    // A length no file could have (over 2^64 with the header) reads as truncation too.
    const std::uint64_t whole = state_bytes + kArchiveHeaderBytes + kArchiveDigestBytes;
    return make_error(
        ErrorCode::kCorruption,
        whole < state_bytes
            ? std::string("snapshot archive is truncated or corrupt: its header "
                          "states an impossible length")
            : fmt::format("snapshot archive is truncated: {} of {} bytes", data.size(), whole));
  }
  if (state_bytes < room) {
    return make_error(ErrorCode::kCorruption,
                      fmt::format("snapshot archive has unexpected bytes after its checksum ({})",
                                  room - state_bytes));
  }
  const std::size_t signed_bytes = kArchiveHeaderBytes + static_cast<std::size_t>(state_bytes);
  const Sha256Digest digest = sha256(data.first(signed_bytes));
  if (std::memcmp(digest.data(), data.data() + signed_bytes, kArchiveDigestBytes) != 0) {
    return make_error(ErrorCode::kCorruption,
                      "snapshot archive checksum mismatch (SHA-256): the file is corrupt");
  }
  archive.state.assign(data.begin() + kArchiveHeaderBytes, data.begin() + signed_bytes);
  archive.sha256_hex = to_hex(digest);
  return archive;
}

}  // namespace praetor::catalog
