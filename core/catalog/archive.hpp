// The snapshot archive of /v1/snapshot and `praetor snapshot`: the whole replicated state
// (catalog::Fsm::snapshot(), decision D27) wrapped so that a file can be checked on its own. It
// is ours, not Consul's (a gzipped tar of Go's raft snapshot and msgpack): Consul's tools cannot
// read it and we cannot read theirs (docs/http-api.md).
//
//   offset  size  field
//        0     8  magic "PRAETSNP"
//        8     2  format version (1), little-endian like every field below
//       10     8  the Raft index the state reflects (the applied index when it was taken)
//       18     8  the term of that index
//       26     8  when it was taken: Unix milliseconds of the saving server's wall clock (the ID)
//       34     8  state length L
//       42     L  the state image
//   42 + L    32  SHA-256 of bytes [0, 42 + L)
//
// The digest covers the header too, so a flipped index is refused like a flipped value; the
// stated length makes a truncated file a "truncated" error rather than a bad checksum.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"

namespace praetor::catalog {

inline constexpr std::uint16_t kArchiveVersion = 1;
inline constexpr std::size_t kArchiveHeaderBytes = 42;
inline constexpr std::size_t kArchiveDigestBytes = 32;

struct ArchiveMeta {
  std::uint16_t version = kArchiveVersion;
  std::uint64_t index = 0;
  std::uint64_t term = 0;
  std::int64_t created_unix_ms = 0;
  // Consul's snapshot ID shape: "<term>-<index>-<unix ms>".
  std::string id() const;
  friend bool operator==(const ArchiveMeta&, const ArchiveMeta&) = default;
};

struct Archive {
  ArchiveMeta meta;
  Bytes state;  // an Fsm::snapshot() image
  std::string sha256_hex;
};

Bytes write_archive(const ArchiveMeta& meta, ByteView state);
// Refuses, with a sentence for the user, anything that is not a whole, unaltered archive of a
// version this build reads: ErrorCode::kInvalidArgument for a file that is not an archive or
// of another version, kCorruption for a truncated or altered one. It does not decode the state.
Result<Archive> read_archive(ByteView data);

// What `praetor snapshot inspect` lists: per table, its records and their encoded bytes.
struct TableSummary {
  std::string type;
  std::size_t count = 0;
  std::size_t bytes = 0;
  friend bool operator==(const TableSummary&, const TableSummary&) = default;
};
// Decodes a state image as a restore would (every check included) and summarizes it (codec.cpp).
Result<std::vector<TableSummary>> summarize_state(ByteView state);

}  // namespace praetor::catalog
