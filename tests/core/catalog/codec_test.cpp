#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/catalog/command.hpp"
#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

Register sample_register() {
  Register r;
  r.node = NodeDef{"6f1c0c1e-0000-4000-8000-000000000001",    "n\xc3\xa9",     "10.0.0.1", "dc1",
                   {{"lan", "10.0.0.1"}, {"wan", "1.2.3.4"}}, {{"rack", "r1"}}};
  ServiceDef s;
  s.id = "web-1";
  s.name = "web";
  s.tags = {"primary", "v1", "primary"};
  s.address = "10.0.0.2";
  s.port = 8080;
  s.meta = {{"version", "3"}};
  s.weight_passing = 10;
  s.weight_warning = 2;
  s.enable_tag_override = true;
  r.service = s;
  CheckDef c;
  c.check_id = "service:web-1";
  c.name = "Web alive";
  c.status = HealthStatus::kWarning;
  c.notes = "notes";
  c.output = "HTTP GET ...: 429";
  c.service_id = "web-1";
  c.type = "http";
  c.interval = "10s";
  c.timeout = "1s";
  CheckDef serf;
  serf.name = "serfHealth";
  serf.status = HealthStatus::kPassing;
  r.checks = {c, serf};
  return r;
}

TEST(CommandCodec, RoundTripsEveryCommand) {
  const std::vector<Command> commands = {
      Noop{},
      KvSet{"a/b", to_bytes("hello"), 7},
      KvCas{"k", to_bytes(""), 0, 12},
      KvDelete{"gone"},
      KvDeleteCas{"x", 3},
      KvDeleteTree{""},
      sample_register(),
      Register{NodeDef{"", "n", "10.0.0.1", "", {}, {}}, std::nullopt, {}, true},
      Deregister{"n1", "web", ""},
      Deregister{"n1", "", "serfHealth"},
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

TEST(CommandCodec, EveryTruncationOfARegisterIsRefused) {
  const Bytes wire = encode_command(sample_register());
  for (std::size_t n = 0; n < wire.size(); ++n) {
    EXPECT_FALSE(decode_command(ByteView(wire.data(), n))) << "prefix of " << n << " bytes";
  }
}

TEST(CommandCodec, RefusesRegistrationsOverTheCaps) {
  // The encoder writes whatever it is given; the decoder refuses what the HTTP API would never
  // propose, so these bytes cannot come from us.
  Register meta = sample_register();
  for (int i = 0; i < 65; ++i) meta.node.meta["k" + std::to_string(i)] = "v";
  EXPECT_FALSE(decode_command(encode_command(meta)));
  Register long_value = sample_register();
  long_value.service->meta["k"] = std::string(513, 'x');
  EXPECT_FALSE(decode_command(encode_command(long_value)));
  Register long_key = sample_register();
  long_key.node.meta[std::string(129, 'k')] = "v";
  EXPECT_FALSE(decode_command(encode_command(long_key)));
  Register tags = sample_register();
  tags.service->tags.assign(257, "t");
  EXPECT_FALSE(decode_command(encode_command(tags)));
  Register checks = sample_register();
  checks.checks.assign(257, CheckDef{});
  EXPECT_FALSE(decode_command(encode_command(checks)));
  Register at_caps = sample_register();
  at_caps.node.meta.clear();
  for (int i = 0; i < 64; ++i)
    at_caps.node.meta[fmt::format("{:0>128}", i)] = std::string(512, 'v');
  auto back = decode_command(encode_command(at_caps));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, Command(at_caps));
}

TEST(CommandCodec, RefusesAnUnknownHealthStatus) {
  Register r;
  r.node = NodeDef{"", "n", "a", "", {}, {}};
  r.checks = {CheckDef{}};
  Bytes wire = encode_command(r);
  const Bytes good = wire;
  // The status byte follows the check's node, id and name (three empty strings, 8-byte size
  // tags each) after the node, the service flag and the checks' size tag: find it by flipping
  // each byte that holds 2 (critical) in the tail and seeing which one decodes as a status.
  bool found = false;
  for (std::size_t i = 3; i < wire.size(); ++i) {
    if (wire[i] != 2) continue;
    Bytes bad = good;
    bad[i] = 3;
    auto r2 = decode_command(bad);
    if (!r2 && r2.error().message.find("health status") != std::string::npos) found = true;
  }
  EXPECT_TRUE(found);
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

TEST(Snapshot, RoundTripsTheCatalog) {
  Fsm fsm;
  fsm.apply_command(LogIndex(1), KvSet{"a", to_bytes("1"), 0});
  ASSERT_EQ(fsm.apply_command(LogIndex(2), sample_register()).error, "");
  Register other = sample_register();
  other.node.name = "n2";
  other.checks.clear();
  fsm.apply_command(LogIndex(3), other);
  fsm.apply_command(LogIndex(4), Deregister{"n2", "web-1", ""});
  fsm.check_invariants();
  ASSERT_EQ(fsm.catalog().node_table().size(), 2u);
  Fsm restored;
  ASSERT_TRUE(restored.restore(fsm.snapshot()));
  restored.check_invariants();
  EXPECT_TRUE(restored == fsm);
  EXPECT_EQ(restored.catalog().services_index(), 4u);
  EXPECT_EQ(restored.catalog().service_name_index("web"), 4u);  // n2's instance went at 4
}

TEST(Snapshot, RefusesAnUnknownVersion) {
  Fsm fsm;
  fsm.apply_command(LogIndex(1), sample_register());
  Bytes snap = fsm.snapshot();
  // [endianness byte][u32 magic][u16 version]: the version's low byte is at offset 5.
  ASSERT_EQ(snap[5], 2);
  snap[5] = 3;
  Fsm other;
  auto r = other.restore(snap);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown snapshot version"), std::string::npos);
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
