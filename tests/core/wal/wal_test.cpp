// The WAL format: round trips, group-commit batches, segment rolling, torn tails cut, corruption
// in the middle refused with file and offset. Storage is modelled as a map of files to which the
// Writer's ops are applied, as a host would.
#include "core/wal/wal.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace praetor::wal {
namespace {

void apply_ops(StoredFiles& files, const std::vector<WriteOp>& ops) {
  for (const auto& op : ops) apply_write_op(files, op);
}

Record rec(std::uint8_t type, std::string_view s) { return Record{type, to_bytes(s)}; }

std::vector<Record> recover_ok(const StoredFiles& files, const Options& options = {}) {
  auto r = recover(files, options);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? r->records : std::vector<Record>{};
}

TEST(Wal, EmptyLogRecoversEmpty) {
  auto r = recover({}, Options{});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->records.empty());
  EXPECT_EQ(r->last_segment, 0u);
}

TEST(Wal, BatchesRoundTripInOrder) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "a"), rec(2, "bb")}));
  apply_ops(files, w.append({rec(3, "")}));
  auto records = recover_ok(files);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], rec(1, "a"));
  EXPECT_EQ(records[1], rec(2, "bb"));
  EXPECT_EQ(records[2], rec(3, ""));
  EXPECT_EQ(files.size(), 1u);
  EXPECT_TRUE(files.contains("raft/wal-0000000000000001"));
}

TEST(Wal, SegmentsRollAndOldOnesAreRemoved) {
  Options options;
  options.segment_max_bytes = 100;
  StoredFiles files;
  Writer w(options, Recovered{});
  for (int i = 0; i < 10; ++i) apply_ops(files, w.append({rec(1, std::string(40, 'x'))}));
  EXPECT_GT(files.size(), 3u);
  EXPECT_EQ(recover_ok(files, options).size(), 10u);
  const std::uint64_t current = w.current_segment();
  apply_ops(files, w.remove_segments_before(current));
  EXPECT_EQ(files.size(), 1u);
  auto r = recover(files, options);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first_segment, current);
}

TEST(Wal, ReopenedWriterContinuesTheLastSegment) {
  StoredFiles files;
  {
    Writer w(Options{}, Recovered{});
    apply_ops(files, w.append({rec(1, "one")}));
  }
  auto r = recover(files, Options{});
  ASSERT_TRUE(r);
  Writer w(Options{}, *r);
  apply_ops(files, w.append({rec(1, "two")}));
  EXPECT_EQ(files.size(), 1u);
  EXPECT_EQ(recover_ok(files).size(), 2u);
}

TEST(Wal, TornTailIsCutAndTruncatedOnNextAppend) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "kept")}));
  apply_ops(files, w.append({rec(1, "torn-away")}));
  auto& seg = files["raft/wal-0000000000000001"];
  const std::size_t full = seg.size();
  seg.resize(full - 3);  // a crash during the second append
  auto r = recover(files, Options{});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(r->records[0], rec(1, "kept"));
  EXPECT_TRUE(r->torn_tail_cut);
  Writer again(Options{}, *r);
  auto ops = again.append({rec(1, "after")});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, WriteOp::Kind::kTruncate);
  apply_ops(files, ops);
  auto records = recover_ok(files);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1], rec(1, "after"));
}

TEST(Wal, CorruptionInTheMiddleIsRefusedWithFileAndOffset) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "first")}));
  apply_ops(files, w.append({rec(1, "second")}));
  apply_ops(files, w.append({rec(1, "third")}));
  auto& seg = files["raft/wal-0000000000000001"];
  seg[kBatchHeaderBytes + 6] ^= 0x40;  // a byte of the first batch's body
  auto r = recover(files, Options{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCorruption);
  EXPECT_NE(r.error().message.find("raft/wal-0000000000000001"), std::string::npos);
  EXPECT_NE(r.error().message.find("offset 0"), std::string::npos);
}

TEST(Wal, ARecordChecksumCatchesDamageTheBatchChecksumMissed) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "payload")}));
  apply_ops(files, w.append({rec(1, "next")}));
  auto& seg = files["raft/wal-0000000000000001"];
  // Damage the first record's payload, then forge both batch checksums to match.
  seg[kBatchHeaderBytes + 9] ^= 0x01;
  const std::uint32_t body_length = get_u32_le(seg.data() + 8);
  Bytes fixed(seg.begin(), seg.begin() + 12);
  put_u32_le(fixed, crc32c(ByteView(seg.data() + kBatchHeaderBytes, body_length)));
  put_u32_le(fixed, crc32c(ByteView(fixed.data(), 16)));
  std::copy(fixed.begin(), fixed.end(), seg.begin());
  auto r = recover(files, Options{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("record 0 checksum mismatch"), std::string::npos)
      << r.error().message;
}

TEST(Wal, DamageInANonLastSegmentIsCorruption) {
  Options options;
  options.segment_max_bytes = 30;
  StoredFiles files;
  Writer w(options, Recovered{});
  apply_ops(files, w.append({rec(1, "aaaaaaaaaa")}));
  apply_ops(files, w.append({rec(1, "bbbbbbbbbb")}));
  ASSERT_EQ(files.size(), 2u);
  files["raft/wal-0000000000000001"].pop_back();  // truncated, but not the last segment
  EXPECT_FALSE(recover(files, options));
}

TEST(Wal, AMissingSegmentIsCorruption) {
  Options options;
  options.segment_max_bytes = 30;
  StoredFiles files;
  Writer w(options, Recovered{});
  for (int i = 0; i < 3; ++i) apply_ops(files, w.append({rec(1, "cccccccccc")}));
  files.erase("raft/wal-0000000000000002");
  auto r = recover(files, options);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing"), std::string::npos);
}

TEST(SnapshotFile, RoundTripsAndDetectsDamage) {
  const Bytes body = to_bytes("state machine bytes");
  Bytes file = encode_snapshot_file(body);
  auto back = decode_snapshot_file(file, "raft/snapshot");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, body);
  file.back() ^= 1;
  auto bad = decode_snapshot_file(file, "raft/snapshot");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("raft/snapshot"), std::string::npos);
  EXPECT_FALSE(decode_snapshot_file(Bytes(5, 0), "x"));
}

// Any crash point: cutting the last segment at any length keeps a prefix of the batches, whole.
RC_GTEST_PROP(Wal, AnyTruncationRecoversAPrefixOfWholeBatches, ()) {
  const auto batches = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::vector<std::string>>>(
      rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(rc::gen::string<std::string>()))));
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  std::vector<std::size_t> ends;
  std::vector<Record> all;
  for (const auto& b : batches) {
    std::vector<Record> records;
    for (const auto& s : b) records.push_back(rec(7, s));
    all.insert(all.end(), records.begin(), records.end());
    apply_ops(files, w.append(records));
    ends.push_back(all.size());
  }
  auto& seg = files.begin()->second;
  const std::size_t cut = *rc::gen::inRange<std::size_t>(0, seg.size() + 1);
  seg.resize(cut);
  auto r = recover(files, Options{});
  RC_ASSERT(r.has_value());
  const std::size_t n = r->records.size();
  RC_ASSERT(n == 0 || std::find(ends.begin(), ends.end(), n) != ends.end());
  for (std::size_t i = 0; i < n; ++i) RC_ASSERT(r->records[i] == all[i]);
}

// Any single flipped byte is either detected or, if it only hit the tail batch, cut; never are
// wrong records returned.
RC_GTEST_PROP(Wal, AFlippedByteNeverYieldsWrongRecords, ()) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  std::vector<Record> all;
  for (int i = 0; i < 4; ++i) {
    Record r = rec(1, std::string(static_cast<std::size_t>(*rc::gen::inRange(0, 30)), 'a' + i));
    all.push_back(r);
    apply_ops(files, w.append({r}));
  }
  auto& seg = files.begin()->second;
  const std::size_t at = *rc::gen::inRange<std::size_t>(0, seg.size());
  seg[at] ^= static_cast<std::uint8_t>(*rc::gen::inRange(1, 256));
  auto r = recover(files, Options{});
  if (!r) return;  // detected
  for (std::size_t i = 0; i < r->records.size(); ++i) RC_ASSERT(r->records[i] == all[i]);
  RC_ASSERT(r->records.size() >= 3u);  // only the last batch can be cut
}

}  // namespace
}  // namespace praetor::wal
