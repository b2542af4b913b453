// Snapshots (/v1/snapshot, decision D41) below the HTTP layer: the SHA-256 against NIST's
// vectors and OpenSSL, the archive refusing every truncation and every flipped byte, the Restore
// command round-tripping a random state into a different one with every index rebased, replicas
// with different histories ending equal, lock-delays for locks a restore takes away, and binary
// bodies surviving the forwarding frames.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <rapidcheck/gtest.h>

#include "core/base/rng.hpp"
#include "core/base/sha256.hpp"
#include "core/catalog/archive.hpp"
#include "core/catalog/fsm.hpp"
#include "core/node/rpc.hpp"

namespace praetor {
namespace {

using catalog::Command;
using catalog::Fsm;

Sha256Digest openssl_sha256(ByteView data) {
  Sha256Digest out{};
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(n, 32u);
  return out;
}

TEST(Sha256, MatchesTheFipsExamples) {
  EXPECT_EQ(to_hex(sha256(to_bytes(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256(to_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256(to_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  const Bytes chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(chunk);
  EXPECT_EQ(to_hex(million.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every length around the padding boundaries, fed in random pieces, agrees with OpenSSL.
RC_GTEST_PROP(Sha256, AgreesWithOpenSslInAnyPieces, ()) {
  const auto data =
      *rc::gen::container<std::vector<std::uint8_t>>(rc::gen::arbitrary<std::uint8_t>());
  const auto cuts =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 130));
  Sha256 h;
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    const std::size_t n = std::min(cut, data.size() - at);
    h.update(ByteView(data.data() + at, n));
    at += n;
  }
  h.update(ByteView(data.data() + at, data.size() - at));
  RC_ASSERT(h.finish() == openssl_sha256(data));
}

TEST(Sha256, AgreesWithOpenSslAtEveryLengthUpTo300) {
  Bytes data;
  for (std::size_t n = 0; n <= 300; ++n) {
    ASSERT_EQ(sha256(data), openssl_sha256(data)) << n << " bytes";
    data.push_back(static_cast<std::uint8_t>(n * 7 + 3));
  }
}

// ---------------------------------------------------------------------------------------------
// The archive

Bytes sample_archive() {
  Fsm fsm;
  fsm.apply_command(LogIndex(1), catalog::KvSet{"a", to_bytes("1"), 0});
  fsm.apply_command(LogIndex(2), catalog::KvSet{"b", Bytes{0x00, 0xff}, 7});
  catalog::ArchiveMeta meta;
  meta.index = 2;
  meta.term = 3;
  meta.created_unix_ms = 1'700'000'000'000;
  return catalog::write_archive(meta, fsm.snapshot());
}

TEST(Archive, RoundTripsItsHeaderAndState) {
  const Bytes archive = sample_archive();
  auto read = catalog::read_archive(archive);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(read->meta.index, 2u);
  EXPECT_EQ(read->meta.term, 3u);
  EXPECT_EQ(read->meta.id(), "3-2-1700000000000");
  EXPECT_EQ(
      read->sha256_hex,
      to_hex(sha256(ByteView(archive.data(), archive.size() - catalog::kArchiveDigestBytes))));
  Fsm restored;
  ASSERT_TRUE(restored.restore(read->state).has_value());
  EXPECT_EQ(to_string(restored.kv().get("b")->value), std::string("\x00\xff", 2));
}

TEST(Archive, RefusesEveryTruncation) {
  const Bytes archive = sample_archive();
  for (std::size_t n = 0; n < archive.size(); ++n) {
    auto read = catalog::read_archive(ByteView(archive.data(), n));
    ASSERT_FALSE(read.has_value()) << "accepted the first " << n << " bytes";
    if (n >= 8) {
      EXPECT_EQ(read.error().code, ErrorCode::kCorruption) << n;
      EXPECT_NE(read.error().message.find("truncated"), std::string::npos)
          << n << ": " << read.error().message;
    }
  }
}

TEST(Archive, RefusesEveryFlippedByte) {
  const Bytes archive = sample_archive();
  for (std::size_t i = 0; i < archive.size(); ++i) {
    for (std::uint8_t bit : {0x01, 0x80}) {
      Bytes bad = archive;
      bad[i] ^= bit;
      auto read = catalog::read_archive(bad);
      ASSERT_FALSE(read.has_value()) << "accepted a flip at byte " << i;
    }
  }
  // A flip in the state, or in the index, is the checksum's to catch.
  Bytes bad = archive;
  bad[catalog::kArchiveHeaderBytes + 3] ^= 0x10;
  EXPECT_NE(catalog::read_archive(bad).error().message.find("checksum mismatch"),
            std::string::npos);
}

TEST(Archive, SaysWhatIsWrongWithForeignFiles) {
  EXPECT_NE(catalog::read_archive(to_bytes("{\"not\": \"a snapshot\"}"))
                .error()
                .message.find("not a praetor snapshot"),
            std::string::npos);
  Bytes v2 = sample_archive();
  v2[8] = 2;
  auto read = catalog::read_archive(v2);
  EXPECT_EQ(read.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(read.error().message.find("version 2 is not supported"), std::string::npos);
  Bytes longer = sample_archive();
  longer.push_back(0);
  EXPECT_NE(catalog::read_archive(longer).error().message.find("unexpected bytes"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The Restore command

// A random but valid history: nodes with services and checks, KV writes, sessions and locks.
struct History {
  Fsm fsm;
  std::uint64_t index = 0;
  Instant now = Instant::zero();

  void apply(const Command& c) {
    fsm.apply(LogIndex(++index), catalog::encode_command(c), now);
    fsm.check_invariants();
  }

  void random_steps(Rng& rng, int steps, const std::string& flavour) {
    const std::vector<std::string> nodes = {"n1", "n2", "n3"};
    for (int i = 0; i < steps; ++i) {
      const std::string node = nodes[rng.uniform(nodes.size())];
      const std::string key = fmt::format("{}/{}", flavour, rng.uniform(6));
      const std::string session = fmt::format("{}-s{}", flavour, rng.uniform(3));
      switch (rng.uniform(8)) {
        case 0: {
          catalog::Register r;
          r.node.name = node;
          r.node.address = "10.0.0." + std::to_string(rng.uniform(9));
          catalog::ServiceDef s;
          s.name = fmt::format("svc{}", rng.uniform(3));
          s.id = s.name + flavour;
          s.port = static_cast<std::uint32_t>(rng.uniform(65536));
          r.service = s;
          catalog::CheckDef serf;
          serf.node = node;
          serf.check_id = "serfHealth";
          serf.name = "Serf Health Status";
          serf.status = catalog::HealthStatus::kPassing;
          r.checks.push_back(serf);
          apply(r);
          break;
        }
        case 1:
          apply(catalog::Deregister{node, "", ""});
          break;
        case 2: {
          catalog::SessionDef d;
          d.id = session;
          d.node = node;
          d.lock_delay_ns = 5'000'000'000;
          apply(catalog::SessionCreate{d});
          break;
        }
        case 3:
          apply(catalog::SessionDestroy{session});
          break;
        case 4:
          apply(catalog::KvLock{key, to_bytes("locked"), 1, session});
          break;
        case 5:
          apply(catalog::KvDelete{key});
          break;
        default: {
          Bytes value(rng.uniform(40), 0);
          for (auto& b : value) b = static_cast<std::uint8_t>(rng.uniform(256));
          apply(catalog::KvSet{key, value, rng.uniform(5)});
          break;
        }
      }
      now = now + Duration::milliseconds(100);
    }
  }
};

// What a restore at `n` must make of `source`'s tables: the same records, ModifyIndex n,
// CreateIndex capped at n.
template <typename Map>
void expect_rebased(const Map& restored, const Map& source, std::uint64_t n) {
  RC_ASSERT(restored.size() == source.size());
  auto it = restored.begin();
  for (const auto& [key, record] : source) {
    RC_ASSERT(it->first == key);
    auto expected = record;
    expected.modify_index = n;
    expected.create_index = std::min<std::uint64_t>(record.create_index, n);
    RC_ASSERT(it->second == expected);
    ++it;
  }
}

RC_GTEST_PROP(RestoreCommand, ReplacesADifferentStateWithTheImageRebasedAtItsIndex, ()) {
  Rng rng(*rc::gen::arbitrary<std::uint64_t>());
  History source;
  source.random_steps(rng, *rc::gen::inRange(0, 60), "a");
  const Bytes image = source.fsm.snapshot();
  History target;
  target.random_steps(rng, *rc::gen::inRange(0, 80), "b");
  RC_ASSERT(Fsm::check_restore_image(image).has_value());
  RC_CLASSIFY(!source.fsm.sessions().all().empty(), "image has sessions");
  RC_CLASSIFY(!source.fsm.catalog().service_table().empty(), "image has services");

  const Bytes entry = catalog::encode_command(catalog::Restore{image});
  auto decoded = catalog::decode_command(entry);
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(std::get<catalog::Restore>(*decoded).state == image);
  target.index += 1;
  const std::uint64_t n = target.index;
  const auto result = target.fsm.apply(LogIndex(n), entry, target.now);
  RC_ASSERT(result.error.empty());
  target.fsm.check_invariants();

  const Fsm& got = target.fsm;
  RC_ASSERT(got.applied_index() == LogIndex(n));
  RC_ASSERT(got.kv().index() == n);
  RC_ASSERT(got.sessions().index() == n);
  RC_ASSERT(got.catalog().nodes_index() == n);
  RC_ASSERT(got.catalog().services_index() == n);
  RC_ASSERT(got.catalog().checks_index() == n);
  for (const auto& [name, index] : got.catalog().service_name_indexes()) RC_ASSERT(index == n);
  expect_rebased(got.kv().entries(), source.fsm.kv().entries(), n);
  expect_rebased(got.catalog().node_table(), source.fsm.catalog().node_table(), n);
  expect_rebased(got.catalog().service_table(), source.fsm.catalog().service_table(), n);
  expect_rebased(got.catalog().check_table(), source.fsm.catalog().check_table(), n);
  expect_rebased(got.sessions().all(), source.fsm.sessions().all(), n);

  // Another replica with another history (a fresh one) applies the same entry at the same index
  // and ends with equal tables; and the result snapshots and restores exactly (InstallSnapshot).
  Fsm fresh;
  for (std::uint64_t i = 1; i < n; ++i) fresh.apply_command(LogIndex(i), catalog::Noop{});
  RC_ASSERT(fresh.apply(LogIndex(n), entry, Instant::zero()).error.empty());
  RC_ASSERT(fresh == got);
  Fsm installed;
  RC_ASSERT(installed.restore(got.snapshot()).has_value());
  RC_ASSERT(installed == got);
}

TEST(RestoreCommand, ALockItTakesAwayGetsItsHoldersLockDelay) {
  History target;
  catalog::Register r;
  r.node.name = "n1";
  r.node.address = "10.0.0.1";
  target.apply(r);
  catalog::SessionDef d;
  d.id = "holder";
  d.node = "n1";
  d.node_checks = {};
  d.lock_delay_ns = 7'000'000'000;
  target.apply(catalog::SessionCreate{d});
  target.apply(catalog::KvLock{"leader", to_bytes("me"), 0, "holder"});
  target.apply(catalog::KvLock{"kept", to_bytes("me"), 0, "holder"});
  ASSERT_NE(target.fsm.kv().get("leader"), nullptr);
  ASSERT_EQ(target.fsm.kv().get("leader")->session, "holder");
  // The image: the same session holds "kept" but not "leader".
  History source;
  source.apply(r);
  source.apply(catalog::SessionCreate{d});
  source.apply(catalog::KvSet{"leader", to_bytes("free"), 0});
  source.apply(catalog::KvLock{"kept", to_bytes("me"), 0, "holder"});

  const Instant now = Instant::zero() + Duration::seconds(100);
  ASSERT_TRUE(target.fsm
                  .apply(LogIndex(++target.index),
                         catalog::encode_command(catalog::Restore{source.fsm.snapshot()}), now)
                  .error.empty());
  EXPECT_EQ(target.fsm.kv().get("leader")->session, "");
  EXPECT_EQ(target.fsm.lock_delay_until("leader"), now + Duration::seconds(7));
  EXPECT_EQ(target.fsm.lock_delay_until("kept"), Instant::zero());
}

TEST(RestoreCommand, ABadImageIsRefusedBeforeProposingAndChangesNothingIfCommitted) {
  History target;
  target.apply(catalog::KvSet{"k", to_bytes("v"), 0});
  Bytes image = sample_archive();  // an archive is not an image: the magic is wrong
  EXPECT_FALSE(Fsm::check_restore_image(image).has_value());
  Bytes truncated = target.fsm.snapshot();
  truncated.pop_back();
  EXPECT_FALSE(Fsm::check_restore_image(truncated).has_value());
  const Fsm before = target.fsm;
  const auto result =
      target.fsm.apply(LogIndex(++target.index),
                       catalog::encode_command(catalog::Restore{truncated}), Instant::zero());
  EXPECT_NE(result.error.find("snapshot restore refused"), std::string::npos) << result.error;
  EXPECT_EQ(target.fsm.kv().entries(), before.kv().entries());
  EXPECT_EQ(target.fsm.kv().index(), before.kv().index());
}

// ---------------------------------------------------------------------------------------------
// Binary bodies through forwarding (client -> server -> leader and back)

TEST(SnapshotForwarding, BinaryBodiesSurviveTheForwardFrames) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const Bytes archive = sample_archive();
  const std::string body = every_byte + std::string(archive.begin(), archive.end());
  node::ForwardRequest request;
  request.forward_id = 9;
  request.method = "PUT";
  request.path = "/v1/snapshot";
  request.body = body;
  auto decoded = node::decode_rpc(node::encode_rpc(request));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(std::get<node::ForwardRequest>(*decoded).body, body);
  node::ForwardResponse response;
  response.forward_id = 9;
  response.status = 200;
  response.body = body;
  decoded = node::decode_rpc(node::encode_rpc(response));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(std::get<node::ForwardResponse>(*decoded).body, body);
}

}  // namespace
}  // namespace praetor
