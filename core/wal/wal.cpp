#include "core/wal/wal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "core/base/assert.hpp"

namespace praetor::wal {
namespace {

constexpr std::uint32_t kSnapshotMagic = 0x504e5350;  // "PSNP" read little-endian
constexpr std::uint32_t kSnapshotVersion = 1;
constexpr std::size_t kSnapshotHeaderBytes = 20;
constexpr std::size_t kRecordHeaderBytes = 9;  // u32 length | u8 type | u32 crc

std::optional<std::uint64_t> parse_segment_sequence(std::string_view name) {
  if (name.size() != 4 + 16 || !name.starts_with("wal-")) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : name.substr(4)) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<std::uint64_t>(d);
  }
  return v;
}

enum class BatchStatus { kValid, kInvalid };

struct BatchView {
  BatchStatus status = BatchStatus::kInvalid;
  std::size_t length = 0;  // header + body, when valid
  std::string why;
};

// Checks the batch that starts at `offset`; never reads past the end of data.
BatchView inspect_batch(ByteView data, std::size_t offset) {
  const std::size_t left = data.size() - offset;
  if (left < kBatchHeaderBytes) return {BatchStatus::kInvalid, 0, "incomplete batch header"};
  const std::uint8_t* h = data.data() + offset;
  if (get_u32_le(h) != kBatchMagic) return {BatchStatus::kInvalid, 0, "bad batch magic"};
  if (get_u32_le(h + 16) != crc32c(ByteView(h, 16))) {
    return {BatchStatus::kInvalid, 0, "batch header checksum mismatch"};
  }
  const std::uint32_t body_length = get_u32_le(h + 8);
  if (body_length > left - kBatchHeaderBytes) return {BatchStatus::kInvalid, 0, "incomplete batch"};
  if (get_u32_le(h + 12) != crc32c(ByteView(h + kBatchHeaderBytes, body_length))) {
    return {BatchStatus::kInvalid, 0, "batch checksum mismatch"};
  }
  return {BatchStatus::kValid, kBatchHeaderBytes + body_length, ""};
}

// True when every byte from `offset` on is zero: space the host preallocated and nobody wrote.
bool zeros_from(ByteView data, std::size_t offset) {
  return std::all_of(data.begin() + static_cast<std::ptrdiff_t>(offset), data.end(),
                     [](std::uint8_t b) { return b == 0; });
}

// True when some valid batch starts anywhere after `offset`: then the damage at `offset` is not
// a torn tail but corruption in the middle.
bool valid_batch_after(ByteView data, std::size_t offset) {
  for (std::size_t at = offset + 1; at + kBatchHeaderBytes <= data.size(); ++at) {
    if (get_u32_le(data.data() + at) == kBatchMagic &&
        inspect_batch(data, at).status == BatchStatus::kValid) {
      return true;
    }
  }
  return false;
}

Result<void> parse_records(ByteView body, std::uint32_t count, std::uint32_t record_max,
                           std::vector<Record>& out, const std::string& file,
                           std::size_t offset) {
  std::size_t at = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (body.size() - at < kRecordHeaderBytes) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("{}: offset {}: record {} overruns its batch", file, offset, i));
    }
    const std::uint32_t length = get_u32_le(body.data() + at);
    if (length > record_max || length > body.size() - at - kRecordHeaderBytes) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("{}: offset {}: record {} has bad length {}", file, offset, i,
                                    length));
    }
    Record r;
    r.type = body[at + 4];
    const auto* p = body.data() + at + kRecordHeaderBytes;
    // The record's own checksum covers its type and payload: a batch checksum that matches by
    // accident (or a bug in batching) still cannot hand back a damaged record.
    const std::uint32_t expected = crc32c(ByteView(p, length), crc32c(ByteView(&r.type, 1)));
    if (get_u32_le(body.data() + at + 5) != expected) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("{}: offset {}: record {} checksum mismatch", file, offset, i));
    }
    r.payload.assign(p, p + length);
    out.push_back(std::move(r));
    at += kRecordHeaderBytes + length;
  }
  if (at != body.size()) {
    return make_error(ErrorCode::kCorruption,
                      fmt::format("{}: offset {}: batch has trailing bytes", file, offset));
  }
  return ok();
}

}  // namespace

std::string segment_name(const Options& options, std::uint64_t sequence) {
  return fmt::format("{}/wal-{:016x}", options.dir, sequence);
}

Bytes encode_batch(const std::vector<Record>& records) {
  Bytes out(kBatchHeaderBytes, 0);
  for (const auto& r : records) {
    PRAETOR_ASSERT(r.payload.size() <= UINT32_MAX);
    put_u32_le(out, static_cast<std::uint32_t>(r.payload.size()));
    out.push_back(r.type);
    put_u32_le(out, crc32c(r.payload, crc32c(ByteView(&r.type, 1))));
    out.insert(out.end(), r.payload.begin(), r.payload.end());
  }
  const std::size_t body_length = out.size() - kBatchHeaderBytes;
  PRAETOR_ASSERT(body_length <= UINT32_MAX);
  Bytes header;
  put_u32_le(header, kBatchMagic);
  put_u32_le(header, static_cast<std::uint32_t>(records.size()));
  put_u32_le(header, static_cast<std::uint32_t>(body_length));
  put_u32_le(header, crc32c(ByteView(out.data() + kBatchHeaderBytes, body_length)));
  put_u32_le(header, crc32c(ByteView(header.data(), 16)));
  std::copy(header.begin(), header.end(), out.begin());
  return out;
}

Result<Recovered> recover(const StoredFiles& files, const Options& options) {
  const std::string prefix = options.dir + "/";
  std::map<std::uint64_t, const std::pair<const std::string, Bytes>*> segments;
  for (const auto& file : files) {
    if (!file.first.starts_with(prefix)) continue;
    if (auto seq = parse_segment_sequence(std::string_view(file.first).substr(prefix.size()))) {
      segments.emplace(*seq, &file);
    }
  }
  Recovered out;
  if (segments.empty()) return out;
  out.first_segment = segments.begin()->first;
  std::uint64_t expected = out.first_segment;
  for (auto it = segments.begin(); it != segments.end(); ++it, ++expected) {
    const auto& [name, data] = *it->second;
    if (it->first != expected) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("{}: segment {:016x} is missing before it", name, expected));
    }
    const bool last = std::next(it) == segments.end();
    std::size_t offset = 0;
    while (offset < data.size()) {
      BatchView batch = inspect_batch(data, offset);
      if (batch.status == BatchStatus::kInvalid) {
        // The end of the log: zeros (a clean end in preallocated space) or a torn batch with no
        // valid one after it. Not in an earlier segment: those were sealed at their length.
        const bool zeros = zeros_from(data, offset);
        if (last && (zeros || !valid_batch_after(data, offset))) {
          out.tail_dropped = true;
          out.torn_tail_cut = !zeros;
          break;
        }
        return make_error(ErrorCode::kCorruption,
                          fmt::format("{}: offset {}: {} in the middle of the log", name, offset,
                                      batch.why));
      }
      const std::uint32_t count = get_u32_le(data.data() + offset + 4);
      ByteView body(data.data() + offset + kBatchHeaderBytes, batch.length - kBatchHeaderBytes);
      PRAETOR_TRY_VOID(parse_records(body, count, options.record_max_bytes, out.records, name,
                                     offset));
      out.record_segments.resize(out.records.size(), it->first);
      offset += batch.length;
    }
    if (last) {
      out.last_segment = it->first;
      out.last_segment_bytes = offset;
    }
  }
  return out;
}

Writer::Writer(Options options, const Recovered& recovered)
    : options_(std::move(options)),
      segment_(recovered.last_segment),
      segment_bytes_(recovered.last_segment_bytes),
      first_segment_(recovered.first_segment),
      trim_pending_(recovered.tail_dropped) {}

std::vector<WriteOp> Writer::append(const std::vector<Record>& records) {
  std::vector<WriteOp> ops;
  Bytes batch = encode_batch(records);
  const bool full = segment_bytes_ > 0 && segment_bytes_ + batch.size() > options_.segment_max_bytes;
  const bool roll = segment_ == 0 || full || force_roll_;
  // Trim the current segment to its written length: once after a restart found a tail on it
  // (so the host learns where to append), and when sealing it (dropping preallocated space, so
  // that only the last segment can end in zeros). The host makes the truncate durable before it
  // creates the next segment.
  if (segment_ != 0 && (trim_pending_ || roll)) {
    ops.push_back({WriteOp::Kind::kTruncate, segment_name(options_, segment_), {}, segment_bytes_});
  }
  trim_pending_ = false;
  if (roll) {
    segment_ += 1;
    segment_bytes_ = 0;
    force_roll_ = false;
    if (first_segment_ == 0) first_segment_ = segment_;
  }
  segment_bytes_ += batch.size();
  ops.push_back({WriteOp::Kind::kAppend, segment_name(options_, segment_), std::move(batch), 0,
                 /*preallocate=*/true});
  return ops;
}

std::vector<WriteOp> Writer::remove_segments_before(std::uint64_t sequence) {
  std::vector<WriteOp> ops;
  // The segment being appended to is never removed.
  const std::uint64_t limit = std::min(sequence, segment_);
  for (std::uint64_t s = first_segment_; s != 0 && s < limit; ++s) {
    ops.push_back({WriteOp::Kind::kRemove, segment_name(options_, s), {}, 0});
  }
  if (first_segment_ != 0 && limit > first_segment_) first_segment_ = limit;
  return ops;
}

Bytes encode_snapshot_file(ByteView body) {
  Bytes out;
  out.reserve(kSnapshotHeaderBytes + body.size());
  put_u32_le(out, kSnapshotMagic);
  put_u32_le(out, kSnapshotVersion);
  put_u64_le(out, body.size());
  put_u32_le(out, crc32c(body));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Result<Bytes> decode_snapshot_file(ByteView file, std::string_view name) {
  if (file.size() < kSnapshotHeaderBytes) {
    return make_error(ErrorCode::kCorruption, fmt::format("{}: shorter than its header", name));
  }
  if (get_u32_le(file.data()) != kSnapshotMagic) {
    return make_error(ErrorCode::kCorruption, fmt::format("{}: not a snapshot file", name));
  }
  if (get_u32_le(file.data() + 4) != kSnapshotVersion) {
    return make_error(ErrorCode::kCorruption, fmt::format("{}: unknown snapshot version", name));
  }
  const std::uint64_t length = get_u64_le(file.data() + 8);
  if (length != file.size() - kSnapshotHeaderBytes) {
    return make_error(ErrorCode::kCorruption,
                      fmt::format("{}: length {} does not match the file", name, length));
  }
  ByteView body = file.subspan(kSnapshotHeaderBytes);
  if (crc32c(body) != get_u32_le(file.data() + 16)) {
    return make_error(ErrorCode::kCorruption, fmt::format("{}: checksum mismatch", name));
  }
  return Bytes(body.begin(), body.end());
}

}  // namespace praetor::wal
