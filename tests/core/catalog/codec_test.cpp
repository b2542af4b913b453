#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/catalog/command.hpp"
#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

TEST(CommandCodec, RoundTripsEveryCommand) {
  const std::vector<Command> commands = {
      Noop{},
      KvSet{"a/b", to_bytes("hello"), 7},
      KvCas{"k", to_bytes(""), 0, 12},
      KvDelete{"gone"},
      KvDeleteCas{"x", 3},
      KvDeleteTree{""},
      SessionCreate{SessionDef{"6f1c1d1e-0000-4000-8000-000000000001",
                               "patroni",
                               "n1",
                               {"serfHealth"},
                               {"web", "db"},
                               1'000'000,
                               SessionBehavior::kDelete,
                               "15.0s"}},
      SessionCreate{SessionDef{}},
      SessionDestroy{"abc"},
      KvLock{"leader", to_bytes("pg0"), 3, "s1"},
      KvUnlock{"leader", {}, 0, "s1"},
      Txn{},
      Txn{{TxnOp{TxnVerb::kSet, "a", to_bytes("1"), 2, 0, ""},
           TxnOp{TxnVerb::kDeleteCas, "b", {}, 0, 7, ""},
           TxnOp{TxnVerb::kCheckSession, "c", {}, 0, 0, "s"}}},
  };
  for (const auto& c : commands) {
    Bytes wire = encode_command(c);
    ASSERT_GE(wire.size(), 3u);
    EXPECT_EQ(wire[0], static_cast<std::uint8_t>(command_type(c)));
    auto back = decode_command(wire);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, c);
  }
}

TEST(CommandCodec, RejectsUnknownTypeVersionAndTrailingBytes) {
  Bytes wire = encode_command(KvDelete{"k"});
  Bytes unknown_type = wire;
  unknown_type[0] = 200;
  EXPECT_FALSE(decode_command(unknown_type));
  Bytes bad_version = wire;
  bad_version[1] = 9;
  EXPECT_FALSE(decode_command(bad_version));
  Bytes trailing = wire;
  trailing.push_back(0);
  auto r = decode_command(trailing);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("trailing"), std::string::npos);
  EXPECT_FALSE(decode_command(Bytes{}));
}

TEST(CommandCodec, RejectsALengthPrefixLargerThanTheLimit) {
  Bytes wire = encode_command(KvSet{"k", to_bytes("v"), 0});
  // Overwrite the key's 8-byte size tag (after the 1-byte type, 2-byte version and the 1-byte
  // portable-archive endianness marker) with a huge length.
  ASSERT_GT(wire.size(), 12u);
  for (int i = 4; i < 12; ++i) wire[static_cast<std::size_t>(i)] = 0xff;
  auto r = decode_command(wire);
  EXPECT_FALSE(r);
}

TEST(CommandCodec, ABigEndianBodyIsRefused) {
  // Found by GarbageNeverCrashes: cereal's portable archive accepts an endianness byte of 0 (big
  // endian) and byte-swaps, so [Noop, v1, 0] decoded although the encoder writes [.., 1].
  EXPECT_TRUE(decode_command(Bytes{0, 1, 0, 1}));
  EXPECT_FALSE(decode_command(Bytes{0, 1, 0, 0}));
}

RC_GTEST_PROP(CommandCodec, GarbageNeverCrashes, (const std::vector<std::uint8_t>& garbage)) {
  auto r = decode_command(garbage);
  if (r) {
    // Whatever decodes must re-encode to the same bytes: there is one encoding per command.
    RC_ASSERT(encode_command(*r) == garbage);
  }
}

TEST(CommandCodec, RejectsOutOfRangeEnumsAndOversizedSessionFields) {
  // The verb of a txn op is one byte after the op count (8 bytes), after the 3-byte header and
  // the endianness marker.
  Bytes wire = encode_command(Txn{{TxnOp{TxnVerb::kGet, "k", {}, 0, 0, ""}}});
  ASSERT_EQ(wire[12], static_cast<std::uint8_t>(TxnVerb::kGet));
  wire[12] = 12;  // one past kDeleteCas
  EXPECT_FALSE(decode_command(wire));
  wire[12] = static_cast<std::uint8_t>(TxnVerb::kDeleteCas);
  EXPECT_TRUE(decode_command(wire));

  SessionDef d;
  d.behavior = SessionBehavior::kDelete;
  Bytes session = encode_command(SessionCreate{d});
  // The behavior byte sits before the TTL's 8-byte (empty) length at the end.
  ASSERT_EQ(session[session.size() - 9], 1);
  session[session.size() - 9] = 2;
  EXPECT_FALSE(decode_command(session));

  // Encoding never fails, so whoever proposes must bound these fields: decoding refuses them.
  EXPECT_FALSE(decode_command(encode_command(SessionDestroy{std::string(65, 's')})));
  EXPECT_TRUE(decode_command(encode_command(SessionDestroy{std::string(64, 's')})));
  Txn big;
  big.ops.resize(65);
  EXPECT_FALSE(decode_command(encode_command(big)));
  big.ops.resize(64);
  EXPECT_TRUE(decode_command(encode_command(big)));
  SessionDef many;
  many.node_checks.assign(257, "c");
  EXPECT_FALSE(decode_command(encode_command(SessionCreate{many})));
}

TEST(Snapshot, RoundTripsAndRestoresIndexes) {
  Fsm fsm;
  fsm.apply_command(LogIndex(1), Noop{});
  fsm.apply_command(LogIndex(2), KvSet{"a", to_bytes("1"), 5});
  fsm.apply_command(LogIndex(3), KvSet{"b", to_bytes("2"), 0});
  fsm.apply_command(LogIndex(4), KvDelete{"b"});
  Bytes snap = fsm.snapshot();
  Fsm other;
  ASSERT_TRUE(other.restore(snap));
  EXPECT_EQ(other.applied_index(), LogIndex(4));
  EXPECT_EQ(other.kv().index(), 4u);
  EXPECT_EQ(other.kv().entries(), fsm.kv().entries());
  other.check_invariants();
}

TEST(Snapshot, RejectsCorruptInput) {
  Fsm fsm;
  fsm.apply_command(LogIndex(1), KvSet{"a", to_bytes("1"), 0});
  Bytes snap = fsm.snapshot();
  Bytes bad_magic = snap;
  bad_magic[1] ^= 0xff;
  Fsm other;
  EXPECT_FALSE(other.restore(bad_magic));
  Bytes truncated(snap.begin(), snap.end() - 1);
  EXPECT_FALSE(other.restore(truncated));
}

}  // namespace
}  // namespace praetor::catalog
