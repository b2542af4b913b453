// Codec round trips for every message kind and stored record, and garbage input: decoding
// arbitrary, truncated or corrupted bytes returns an error and never crashes.
#include "core/raft/codec.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "core/raft/config.hpp"
#include "core/raft/format.hpp"

namespace praetor::raft {
namespace {

Membership sample_membership() {
  Membership m;
  m.voters = {NodeId(1), NodeId(2), NodeId(3)};
  m.learners = {NodeId(9)};
  return m;
}

Message sample_message(MessageKind kind) {
  Message m;
  m.kind = kind;
  m.from = NodeId(1);
  m.to = NodeId(2);
  m.term = Term(7);
  m.log_term = Term(6);
  m.index = LogIndex(41);
  m.commit = LogIndex(40);
  m.reject = true;
  m.hint_index = LogIndex(30);
  m.hint_term = Term(5);
  m.transfer = true;
  m.read_round = 99;
  m.snapshot = SnapshotMeta{LogIndex(20), Term(4), sample_membership()};
  m.offset = 4096;
  m.chunk = to_bytes("chunk");
  m.done = true;
  m.entries.push_back(Entry{Term(7), LogIndex(42), EntryType::kNormal, to_bytes("set x=1")});
  m.entries.push_back(Entry{Term(7), LogIndex(43), EntryType::kNoop, {}});
  m.entries.push_back(
      Entry{Term(7), LogIndex(44), EntryType::kConfig, encode_membership(sample_membership())});
  return m;
}

TEST(RaftCodec, EveryMessageKindRoundTrips) {
  for (std::uint8_t k = 1; k <= kMessageKindMax; ++k) {
    const Message m = sample_message(MessageKind{k});
    auto decoded = decode_message(encode_message(m));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(*decoded, m) << to_string(m);
  }
}

TEST(RaftCodec, RecordsRoundTrip) {
  const HardState h{Term(3), NodeId(2), LogIndex(17)};
  EXPECT_EQ(*decode_hard_state(encode_hard_state(h)), h);
  const Entry e{Term(3), LogIndex(18), EntryType::kConfig, encode_membership(sample_membership())};
  EXPECT_EQ(*decode_entry(encode_entry(e)), e);
  const SnapshotMeta s{LogIndex(9), Term(2), sample_membership()};
  EXPECT_EQ(*decode_snapshot_meta(encode_snapshot_meta(s)), s);
  EXPECT_EQ(*decode_membership(encode_membership(sample_membership())), sample_membership());
}

TEST(RaftCodec, EveryTruncationIsAnError) {
  const Bytes full = encode_message(sample_message(MessageKind::kAppend));
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(decode_message(ByteView(full.data(), n)).has_value()) << n;
  }
  Bytes longer = full;
  longer.push_back(0);
  EXPECT_FALSE(decode_message(longer).has_value());
}

TEST(RaftCodec, RejectsWrongVersionKindAndFlags) {
  Bytes b = encode_message(sample_message(MessageKind::kVote));
  // Layout: [u16 version][u8 kind]... after cereal's one-byte endianness tag.
  Bytes bad_version = b;
  bad_version[1] ^= 0xff;
  EXPECT_FALSE(decode_message(bad_version).has_value());
  Bytes bad_kind = b;
  bad_kind[3] = 0;
  EXPECT_FALSE(decode_message(bad_kind).has_value());
  bad_kind[3] = kMessageKindMax + 1;
  EXPECT_FALSE(decode_message(bad_kind).has_value());
}

TEST(RaftCodec, RejectsMessagesNoPeerSends) {
  Message m = sample_message(MessageKind::kAppend);
  m.entries[2].data = to_bytes("not a membership");
  EXPECT_FALSE(decode_message(encode_message(m)).has_value());
  m = sample_message(MessageKind::kAppend);
  m.entries[1].index = LogIndex(100);  // not contiguous
  EXPECT_FALSE(decode_message(encode_message(m)).has_value());
  Membership overlap = sample_membership();
  overlap.learners.insert(NodeId(1));
  EXPECT_FALSE(decode_membership(encode_membership(overlap)).has_value());
  Membership zero;
  zero.voters.insert(NodeId(0));
  EXPECT_FALSE(decode_membership(encode_membership(zero)).has_value());
}

TEST(RaftCodec, RejectsOversizedFields) {
  Message m = sample_message(MessageKind::kInstallSnapshot);
  m.chunk.assign(kMaxSnapshotChunkBytesCap + 1, 'x');
  EXPECT_FALSE(decode_message(encode_message(m)).has_value());
  m = sample_message(MessageKind::kAppend);
  m.entries[0].data.assign(kMaxEntryBytes + 1, 'x');
  EXPECT_FALSE(decode_message(encode_message(m)).has_value());
  m = sample_message(MessageKind::kAppend);
  m.entries.clear();
  for (std::size_t i = 0; i <= kMaxEntriesPerAppendCap; ++i) {
    m.entries.push_back(Entry{Term(7), LogIndex(42 + i), EntryType::kNoop, {}});
  }
  EXPECT_FALSE(decode_message(encode_message(m)).has_value());
}

TEST(RaftCodec, HugeLengthPrefixDoesNotAllocate) {
  // A valid header followed by an entry count claiming 2^60 entries.
  Bytes b = encode_message(sample_message(MessageKind::kHeartbeat));
  const std::size_t header = 1 + 2 + 1 + 8 * 5;  // endianness, version, kind, from..index
  for (std::size_t i = 0; i < 8; ++i) b[header + i] = 0xff;
  b[header + 7] = 0x0f;
  EXPECT_FALSE(decode_message(b).has_value());
}

RC_GTEST_PROP(RaftCodecProperty, GarbageNeverCrashes, (const std::vector<std::uint8_t>& bytes)) {
  auto m = decode_message(bytes);
  if (m) {
    // Whatever decodes must re-encode to the same bytes (no lossy acceptance).
    RC_ASSERT(encode_message(*m) == bytes);
  }
  (void)decode_membership(bytes);
  (void)decode_hard_state(bytes);
  (void)decode_entry(bytes);
  (void)decode_snapshot_meta(bytes);
}

RC_GTEST_PROP(RaftCodecProperty, CorruptedMessagesNeverCrash,
              (std::uint8_t kind_pick, std::size_t position, std::uint8_t value)) {
  const auto kind = MessageKind{static_cast<std::uint8_t>(1 + kind_pick % kMessageKindMax)};
  Bytes b = encode_message(sample_message(kind));
  b[position % b.size()] = value;
  auto m = decode_message(b);
  if (m) RC_ASSERT(encode_message(*m) == b);
}

RC_GTEST_PROP(RaftCodecProperty, RandomMessagesRoundTrip,
              (std::uint8_t kind_pick, std::uint64_t term, std::uint64_t index, bool reject,
               std::vector<std::uint8_t> data, std::uint64_t round)) {
  Message m;
  m.kind = MessageKind{static_cast<std::uint8_t>(1 + kind_pick % kMessageKindMax)};
  m.from = NodeId(1);
  m.to = NodeId(2);
  m.term = Term(term);
  m.index = LogIndex(index % 1000);
  m.reject = reject;
  m.read_round = round;
  m.chunk = data;
  m.entries.push_back(Entry{Term(term), LogIndex(index % 1000 + 1), EntryType::kNormal, data});
  auto decoded = decode_message(encode_message(m));
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(*decoded == m);
}

}  // namespace
}  // namespace praetor::raft
