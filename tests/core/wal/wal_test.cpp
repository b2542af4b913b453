// The WAL format: round trips, group-commit batches, segment rolling, torn tails cut, zero tails
// (preallocated space) read as a clean end, corruption in the middle refused with file and
// offset. Storage is modelled as a map of files to which the Writer's ops are applied, as a host
// would; PreallocatingDisk models a host that reserves space ahead of appends, as FileStorage
// does.
#include "core/wal/wal.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <optional>

namespace praetor::wal {
namespace {

void apply_ops(StoredFiles& files, const std::vector<WriteOp>& ops) {
  for (const auto& op : ops) apply_write_op(files, op);
}

Record rec(std::uint8_t type, std::string_view s) { return Record{type, to_bytes(s)}; }

// Two segments of one record each (30-byte segments): for damage to a segment that is not the
// last.
Options small_segments() {
  Options options;
  options.segment_max_bytes = 30;
  return options;
}
StoredFiles two_segments() {
  StoredFiles files;
  Writer w(small_segments(), Recovered{});
  apply_ops(files, w.append({rec(1, "aaaaaaaaaa")}));
  apply_ops(files, w.append({rec(1, "bbbbbbbbbb")}));
  return files;
}

// A host that preallocates like io::FileStorage: an append with the hint first pads the file
// with zeros to the next `chunk` boundary past the append, then writes at the file's written
// end; a truncate sets the written end. `files` is what a crash at any moment would leave (every
// op here counts as synced).
struct PreallocatingDisk {
  std::size_t chunk = 64;
  StoredFiles files;
  std::map<std::string, std::size_t> ends;

  void apply(const std::vector<WriteOp>& ops) {
    for (const auto& op : ops) {
      Bytes& file = files[op.file];
      auto [at, fresh] = ends.try_emplace(op.file, file.size());
      std::size_t& end = at->second;
      switch (op.kind) {
        case WriteOp::Kind::kAppend:
          if (op.preallocate && end + op.data.size() > file.size()) {
            file.resize(((end + op.data.size()) / chunk + 1) * chunk, 0);
          }
          if (end + op.data.size() > file.size()) file.resize(end + op.data.size());
          std::copy(op.data.begin(), op.data.end(), file.begin() + static_cast<std::ptrdiff_t>(end));
          end += op.data.size();
          break;
        case WriteOp::Kind::kTruncate:
          file.resize(op.size, 0);
          end = op.size;
          break;
        case WriteOp::Kind::kRemove:
        case WriteOp::Kind::kReplace:
          ends.erase(at);
          apply_write_op(files, op);
          break;
      }
    }
  }
  // A restart: the host forgets written ends; files keep their zero tails.
  void restart() { ends.clear(); }
};

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

TEST(Wal, AppendsCarryThePreallocateHint) {
  Writer w(Options{}, Recovered{});
  auto ops = w.append({rec(1, "x")});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, WriteOp::Kind::kAppend);
  EXPECT_TRUE(ops[0].preallocate);
}

TEST(Wal, AZeroTailIsACleanEndTruncatedBeforeTheNextAppend) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "one")}));
  apply_ops(files, w.append({rec(1, "two"), rec(2, "three")}));
  auto& seg = files["raft/wal-0000000000000001"];
  const std::size_t written = seg.size();
  seg.resize(written + 5000, 0);  // space the host preallocated
  auto r = recover(files, Options{});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->records.size(), 3u);
  EXPECT_EQ(r->last_segment_bytes, written);
  EXPECT_TRUE(r->tail_dropped);
  EXPECT_FALSE(r->torn_tail_cut);  // nothing but zeros was dropped
  Writer again(Options{}, *r);
  auto ops = again.append({rec(1, "four")});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, WriteOp::Kind::kTruncate);
  EXPECT_EQ(ops[0].file, "raft/wal-0000000000000001");
  EXPECT_EQ(ops[0].size, written);
  apply_ops(files, ops);
  auto records = recover_ok(files);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3], rec(1, "four"));
  // The truncate happens once: later appends go straight on.
  EXPECT_EQ(again.append({rec(1, "five")}).size(), 1u);
}

TEST(Wal, ASegmentOfOnlyZerosIsEmpty) {
  StoredFiles files{{"raft/wal-0000000000000001", Bytes(100, 0)}};
  auto r = recover(files, Options{});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->records.empty());
  EXPECT_EQ(r->last_segment, 1u);
  EXPECT_EQ(r->last_segment_bytes, 0u);
  EXPECT_TRUE(r->tail_dropped);
  EXPECT_FALSE(r->torn_tail_cut);
}

TEST(Wal, ATornBatchFollowedByZerosIsATornTail) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "kept")}));
  const std::size_t kept = files.begin()->second.size();
  apply_ops(files, w.append({rec(1, std::string(200, 't'))}));
  auto& seg = files.begin()->second;
  const std::size_t full = seg.size();
  // Two shapes a crash leaves in preallocated space: the batch's first bytes reached the disk
  // and the rest did not, or only a later part of it did (pages written out of order).
  for (const bool head_missing : {false, true}) {
    StoredFiles crashed = files;
    Bytes& s = crashed.begin()->second;
    s.resize(full - 50);
    if (head_missing) std::fill(s.begin() + static_cast<std::ptrdiff_t>(kept), s.begin() + 100, 0);
    s.resize(full + 4096, 0);
    auto r = recover(crashed, Options{});
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->records.size(), 1u);
    EXPECT_EQ(r->records[0], rec(1, "kept"));
    EXPECT_EQ(r->last_segment_bytes, kept);
    EXPECT_TRUE(r->torn_tail_cut);
  }
}

TEST(Wal, ZerosBeforeAValidBatchAreCorruption) {
  // Zeros where acknowledged batches were, with a valid batch after them, are damage (a lost
  // write), not a clean end: the zero rule only applies to the whole tail.
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "first")}));
  const std::size_t first = files.begin()->second.size();
  apply_ops(files, w.append({rec(1, "second")}));
  auto& seg = files.begin()->second;
  std::fill(seg.begin(), seg.begin() + static_cast<std::ptrdiff_t>(first), 0);
  seg.resize(seg.size() + 1000, 0);
  auto r = recover(files, Options{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCorruption);
  EXPECT_NE(r.error().message.find("raft/wal-0000000000000001: offset 0"), std::string::npos)
      << r.error().message;
}

TEST(Wal, GarbageFollowedByAValidBatchIsRefusedEvenWithAZeroTail) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "first")}));
  const std::size_t first = files.begin()->second.size();
  apply_ops(files, w.append({rec(1, "second")}));
  apply_ops(files, w.append({rec(1, "third")}));
  auto& seg = files.begin()->second;
  seg[first + kBatchHeaderBytes + 2] ^= 0x08;  // the second batch's body
  seg.resize(seg.size() + 1000, 0);
  auto r = recover(files, Options{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(fmt::format("raft/wal-0000000000000001: offset {}", first)),
            std::string::npos)
      << r.error().message;
}

TEST(Wal, AZeroTailInASegmentThatIsNotTheLastIsCorruption) {
  StoredFiles files = two_segments();
  ASSERT_EQ(files.size(), 2u);
  auto& first = files["raft/wal-0000000000000001"];
  const std::size_t written = first.size();
  first.resize(written + 64, 0);  // sealing should have cut this
  auto r = recover(files, small_segments());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(fmt::format("raft/wal-0000000000000001: offset {}", written)),
            std::string::npos)
      << r.error().message;
}

TEST(Wal, RollingSealsTheOldSegmentAtItsLengthFirst) {
  Options options;
  options.segment_max_bytes = 100;
  Writer w(options, Recovered{});
  std::uint64_t bytes = 0;
  std::vector<WriteOp> ops;
  while (true) {
    bytes = w.current_segment_bytes();
    ops = w.append({rec(1, std::string(30, 'x'))});
    if (w.current_segment() == 2) break;
    ASSERT_EQ(ops.size(), 1u);  // no truncate while the segment grows
  }
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, WriteOp::Kind::kTruncate);
  EXPECT_EQ(ops[0].file, "raft/wal-0000000000000001");
  EXPECT_EQ(ops[0].size, bytes);
  EXPECT_EQ(ops[1].kind, WriteOp::Kind::kAppend);
  EXPECT_EQ(ops[1].file, "raft/wal-0000000000000002");
  // An explicit roll seals the same way.
  const std::uint64_t second = w.current_segment_bytes();
  w.roll();
  ops = w.append({rec(1, "after snapshot")});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, WriteOp::Kind::kTruncate);
  EXPECT_EQ(ops[0].file, "raft/wal-0000000000000002");
  EXPECT_EQ(ops[0].size, second);
  EXPECT_EQ(ops[1].file, "raft/wal-0000000000000003");
}

TEST(Wal, ARestartThatRollsTruncatesTheTailOnce) {
  StoredFiles files;
  Writer w(Options{}, Recovered{});
  apply_ops(files, w.append({rec(1, "one")}));
  files.begin()->second.resize(files.begin()->second.size() + 10, 0);
  auto r = recover(files, Options{});
  ASSERT_TRUE(r);
  Writer again(Options{}, *r);
  again.roll();
  auto ops = again.append({rec(1, "two")});
  ASSERT_EQ(ops.size(), 2u);  // one truncate serves both the tail and the seal
  EXPECT_EQ(ops[0].kind, WriteOp::Kind::kTruncate);
  EXPECT_EQ(ops[0].size, r->last_segment_bytes);
  apply_ops(files, ops);
  EXPECT_EQ(recover_ok(files).size(), 2u);
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
  StoredFiles files = two_segments();
  ASSERT_EQ(files.size(), 2u);
  files["raft/wal-0000000000000001"].pop_back();  // truncated, but not the last segment
  EXPECT_FALSE(recover(files, small_segments()));
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

// A host that preallocates, restarts at random points, segments rolling by size and by roll():
// every restart recovers exactly the records written so far, as a clean end (zero tails are not
// torn writes, and sealed segments were cut to their length). Then a crash during one more
// append, whose bytes reached the preallocated space only in part, keeps the log before it and
// at most that whole batch.
RC_GTEST_PROP(Wal, APreallocatingHostRecoversAcrossRestartsAndRolls, ()) {
  Options options;
  options.segment_max_bytes = *rc::gen::inRange<std::uint64_t>(40, 400);
  PreallocatingDisk disk;
  disk.chunk = *rc::gen::inRange<std::size_t>(1, 300);
  std::vector<Record> all;
  std::optional<Writer> w(std::in_place, options, Recovered{});
  const int steps = *rc::gen::inRange(1, 40);
  for (int i = 0; i < steps; ++i) {
    const int action = *rc::gen::inRange(0, 8);
    if (action == 0) {
      disk.restart();
      auto r = recover(disk.files, options);
      RC_ASSERT(r.has_value());
      RC_ASSERT(r->records == all);
      RC_ASSERT(!r->torn_tail_cut);
      w.emplace(options, *r);
    } else if (action == 1) {
      w->roll();
    } else {
      Record record = rec(static_cast<std::uint8_t>(i), *rc::gen::string<std::string>());
      all.push_back(record);
      disk.apply(w->append({record}));
    }
  }
  disk.restart();
  auto r = recover(disk.files, options);
  RC_ASSERT(r.has_value());
  RC_ASSERT(r->records == all);
  w.emplace(options, *r);
  PreallocatingDisk crashed = disk;
  const Record last = rec(9, *rc::gen::nonEmpty(rc::gen::string<std::string>()));
  auto ops = w->append({last});
  crashed.apply(ops);
  const std::string name = segment_name(options, w->current_segment());
  Bytes& seg = crashed.files[name];
  const std::size_t batch_size = ops.back().data.size();  // the append is the last op
  const std::size_t batch_start = crashed.ends.at(name) - batch_size;
  const std::size_t kept = *rc::gen::inRange<std::size_t>(0, batch_size + 1);
  std::fill(seg.begin() + static_cast<std::ptrdiff_t>(batch_start + kept),
            seg.begin() + static_cast<std::ptrdiff_t>(batch_start + batch_size), 0);
  auto back = recover(crashed.files, options);
  RC_ASSERT(back.has_value());
  std::vector<Record> with_last = all;
  with_last.push_back(last);
  RC_ASSERT(back->records == (kept == batch_size ? with_last : all));
  RC_ASSERT(back->torn_tail_cut == (kept > 0 && kept < batch_size));
}

}  // namespace
}  // namespace praetor::wal
