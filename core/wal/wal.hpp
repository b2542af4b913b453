// The write-ahead log's format, pure: records in, WriteBatch ops out; stored files in, records
// (or a precise corruption error) out. The host makes the batches durable; nothing here touches
// a file.
//
// Layout. The log is a sequence of segment files `<dir>/wal-<seq, 16 hex>`; each segment is a
// sequence of batches, one batch per group commit (one fsync covers it):
//
//   batch   := header(20 bytes) record*
//   header  := u32 magic "PWAL" | u32 record_count | u32 body_length | u32 body_crc32c
//              | u32 header_crc32c (of the 16 bytes before it)
//   record  := u32 length | u8 type | u32 crc32c(type, payload) | payload[length]
//
// All integers little-endian. A batch is valid when both checksums match and the body is whole.
//
// Preallocation. Appends carry WriteOp::preallocate, so the host may reserve space past the end
// of the segment being appended to: that file can end in zero bytes nobody wrote (an fdatasync
// then need not journal a growing file size). A segment is sealed — truncated to its written
// length, durably — before the next one is created, so only the last segment can have such a
// zero tail. A batch starts with a non-zero magic, so zeros are never read as a batch.
//
// Recovery. Segments are read in sequence order. In the LAST segment, bytes after the last
// valid batch are dropped: all zeros are a clean end (preallocated space), anything else with no
// valid batch after it is a torn write from a crash during append. Either way the Writer's first
// append truncates the file to `last_segment_bytes`, and recovery succeeds. Anything invalid
// before the end of the last segment — a bad checksum followed by a valid batch, a gap in
// segment numbers, a damaged (or zero-padded) non-last segment — is corruption in the middle of
// the log, and recovery fails with an error naming the file and the byte offset: a replica must
// not silently lose acknowledged entries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"
#include "core/base/storage_types.hpp"

namespace praetor::wal {

struct Record {
  std::uint8_t type = 0;
  Bytes payload;
  friend bool operator==(const Record&, const Record&) = default;
};

struct Options {
  std::string dir = "raft";
  std::uint64_t segment_max_bytes = 64ULL * 1024 * 1024;
  std::uint32_t record_max_bytes = 16U * 1024 * 1024;
};

inline constexpr std::uint32_t kBatchMagic = 0x4c415750;  // "PWAL" read little-endian
inline constexpr std::size_t kBatchHeaderBytes = 20;

// Encodes one batch (no file I/O).
Bytes encode_batch(const std::vector<Record>& records);

struct Recovered {
  std::vector<Record> records;    // every record of every valid batch, in log order
  std::vector<std::uint64_t> record_segments;  // the segment each record was read from
  std::uint64_t first_segment = 0;  // lowest segment sequence present (0: none)
  std::uint64_t last_segment = 0;  // sequence of the segment to keep appending to (0: none)
  std::uint64_t last_segment_bytes = 0;  // valid length of that segment
  // The last segment holds bytes after last_segment_bytes (a torn batch, or preallocated zeros);
  // the Writer truncates them away before it appends.
  bool tail_dropped = false;
  bool torn_tail_cut = false;  // of those bytes, some were not zero: a torn batch was dropped
};

// Reads the WAL out of the files a host recovered. Files outside options.dir are ignored.
Result<Recovered> recover(const StoredFiles& files, const Options& options);

std::string segment_name(const Options& options, std::uint64_t sequence);

// Turns appends into storage operations: one batch per call, appended to the current segment,
// or to a fresh segment when the current one is full. Removing old segments is explicit (after a
// snapshot covers them).
class Writer {
 public:
  Writer(Options options, const Recovered& recovered);

  // The ops for one group commit: one kAppend with the preallocate hint, preceded by a kTruncate
  // of the current segment to its written length when recovery dropped a tail from it (first
  // call only) and when the append starts a new segment (sealing the old one).
  std::vector<WriteOp> append(const std::vector<Record>& records);
  // Ops that remove whole segments with a sequence below `sequence`.
  std::vector<WriteOp> remove_segments_before(std::uint64_t sequence);

  std::uint64_t current_segment() const { return segment_; }
  std::uint64_t current_segment_bytes() const { return segment_bytes_; }
  std::uint64_t first_segment() const { return first_segment_; }
  // Starts a new segment at the next append (the caller does this after a snapshot, so the
  // segments the snapshot covers can be removed whole).
  void roll() { force_roll_ = true; }

 private:
  Options options_;
  std::uint64_t segment_ = 0;
  std::uint64_t segment_bytes_ = 0;
  std::uint64_t first_segment_ = 0;
  bool force_roll_ = false;
  bool trim_pending_ = false;  // the current segment has a tail recovery dropped
};

// Snapshot files: `<dir>/snapshot` replaced atomically, with a checksummed header:
//   u32 magic "PSNP" | u32 version | u64 length | u32 crc32c(body) | body
Bytes encode_snapshot_file(ByteView body);
Result<Bytes> decode_snapshot_file(ByteView file, std::string_view name);

}  // namespace praetor::wal
