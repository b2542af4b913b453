// The gossip wire format: round trips, and hostile input (truncation, bit flips, random bytes,
// huge length fields, oversize) rejected without crashing or over-allocating.
#include "core/gossip/codec.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/base/limits.hpp"
#include "core/gossip/format.hpp"

namespace praetor::gossip {
namespace {

std::vector<Message> sample_messages() {
  PushPull pp;
  pp.join = true;
  pp.nodes.push_back(
      PushNodeState{"a", {"10.0.0.1", 8301}, Bytes{1, 2}, Incarnation(3), MemberState::kSuspect});
  pp.nodes.push_back(
      PushNodeState{"b.dc2", {"10.0.0.2", 8302}, {}, Incarnation(1), MemberState::kLeft});
  pp.user_state = Bytes{9, 9, 9};
  return {
      Ping{7, "b"},
      IndirectPing{8, "c", {"10.0.0.3", 8301}, true},
      Ack{9},
      Nack{10},
      Suspect{Incarnation(4), "c", "a"},
      Alive{Incarnation(5), "a", {"10.0.0.1", 8301}, Bytes{'m', 'e', 't', 'a'}},
      Dead{Incarnation(6), "d", "d"},
      UserMessage{Bytes{1, 2, 3}},
      pp,
  };
}

TEST(GossipCodec, EachMessageRoundTrips) {
  for (const Message& m : sample_messages()) {
    const Bytes packet = encode_packet(m);
    auto decoded = decode_packet(packet, kMaxStreamBytes);
    ASSERT_TRUE(decoded) << fmt::format("{}", m) << ": " << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u);
    EXPECT_EQ(decoded->front(), m) << fmt::format("{}", m);
  }
}

TEST(GossipCodec, CompoundPacketRoundTrips) {
  std::vector<Bytes> frames;
  const auto messages = sample_messages();
  for (const Message& m : messages) frames.push_back(encode_frame(m));
  auto decoded = decode_packet(encode_packet(frames), kMaxStreamBytes);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, messages);
}

TEST(GossipCodec, EveryTruncationIsRejected) {
  std::vector<Bytes> frames;
  for (const Message& m : sample_messages()) frames.push_back(encode_frame(m));
  const Bytes packet = encode_packet(frames);
  for (std::size_t n = 0; n < packet.size(); ++n) {
    EXPECT_FALSE(decode_packet(ByteView(packet).first(n), kMaxStreamBytes)) << n;
  }
}

TEST(GossipCodec, ChecksumCatchesEveryBitFlip) {
  const Bytes packet = encode_packet(Alive{Incarnation(5), "a", {"10.0.0.1", 8301}, {}});
  for (std::size_t i = 0; i < packet.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = packet;
      bad[i] = static_cast<std::uint8_t>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(decode_packet(bad, kMaxStreamBytes)) << i << "/" << bit;
    }
  }
}

// Rewrites the checksum so that a test reaches the parser behind it.
Bytes reseal(Bytes packet) {
  const std::uint32_t crc = crc32c(ByteView(packet).subspan(6));
  for (int i = 0; i < 4; ++i) {
    packet[2 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  }
  return packet;
}

TEST(GossipCodec, HugeCountsAreRejectedBeforeAllocating) {
  // A push/pull claiming a million members in a few bytes (test-matrix G6).
  Bytes packet{kPacketMagic,
               kWireVersion,
               0,
               0,
               0,
               0,
               1,
               static_cast<std::uint8_t>(MessageType::kPushPull),
               0,
               0,
               0,
               6,
               0,
               0x00,
               0x0F,
               0x42,
               0x40,
               0};
  auto r = decode_packet(reseal(packet), kMaxStreamBytes);
  EXPECT_FALSE(r);
  // A frame claiming 4 GiB.
  Bytes frame{kPacketMagic,
              kWireVersion,
              0,
              0,
              0,
              0,
              1,
              static_cast<std::uint8_t>(MessageType::kUser),
              0xFF,
              0xFF,
              0xFF,
              0xFF,
              1};
  EXPECT_FALSE(decode_packet(reseal(frame), kMaxStreamBytes));
  // Meta over 512 bytes.
  Alive big{Incarnation(1), "a", {"10.0.0.1", 1}, Bytes(kMaxMetaBytes + 1, 7)};
  EXPECT_FALSE(decode_packet(encode_packet(big), kMaxStreamBytes));
}

TEST(GossipCodec, OversizedPacketsAreRejected) {
  const Bytes packet = encode_packet(UserMessage{Bytes(2000, 1)});
  EXPECT_FALSE(decode_packet(packet, limits::kGossipMaxPacketBytes));
}

TEST(GossipCodec, UnknownTypesAndTrailingBytesAreRejected) {
  Bytes packet = encode_packet(Ack{1});
  Bytes unknown = packet;
  unknown[7] = 0x42;
  EXPECT_FALSE(decode_packet(reseal(unknown), kMaxStreamBytes));
  Bytes trailing = packet;
  trailing.push_back(0);
  EXPECT_FALSE(decode_packet(reseal(trailing), kMaxStreamBytes));
  Bytes bad_state = encode_packet(PushPull{
      false, false, {PushNodeState{"a", {"h", 1}, {}, Incarnation(1), MemberState::kAlive}}, {}});
  // The state byte of the only node sits right before the 4-byte user-state length.
  bad_state[bad_state.size() - 5] = 9;
  EXPECT_FALSE(decode_packet(reseal(bad_state), kMaxStreamBytes));
}

RC_GTEST_PROP(GossipCodec, RandomBytesNeverCrash, (const std::vector<std::uint8_t>& noise)) {
  (void)decode_packet(noise, kMaxStreamBytes);
  (void)decode_serf_message(noise);
  (void)decode_serf_state(noise);
  (void)decode_tags(noise);
  // With a valid header and checksum, the parser behind it is exercised too.
  Bytes packet{kPacketMagic, kWireVersion, 0, 0, 0, 0};
  packet.insert(packet.end(), noise.begin(), noise.end());
  (void)decode_packet(reseal(packet), kMaxStreamBytes);
}

// Skips alive messages about "known" at incarnation 5 or less, as a receiver that holds them.
struct SkipKnown final : AliveFilter {
  mutable std::vector<std::string> seen;
  bool known(const AliveView& a) const override {
    seen.emplace_back(a.node);
    return a.node == "known" && a.incarnation <= Incarnation(5) && a.host == "10.0.0.1" &&
           a.port == 8301 && a.meta.size() == 2;
  }
};

TEST(GossipCodec, AFilterLeavesOutKnownAliveMessagesAndKeepsTheRest) {
  const Alive known{Incarnation(5), "known", {"10.0.0.1", 8301}, Bytes{1, 2}};
  const Alive newer{Incarnation(6), "known", {"10.0.0.1", 8301}, Bytes{1, 2}};
  const Alive other{Incarnation(1), "other", {"10.0.0.2", 8301}, Bytes{3}};
  const std::vector<Bytes> frames{encode_frame(known), encode_frame(Ack{4}), encode_frame(newer),
                                  encode_frame(other)};
  const Bytes packet = encode_packet(frames);
  SkipKnown filter;
  auto decoded = decode_packet(packet, kMaxStreamBytes, &filter);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(filter.seen, (std::vector<std::string>{"known", "known", "other"}));
  ASSERT_EQ(decoded->size(), 3u);
  EXPECT_EQ(std::get<Ack>((*decoded)[0]), Ack{4});
  EXPECT_EQ(std::get<Alive>((*decoded)[1]), newer);
  EXPECT_EQ(std::get<Alive>((*decoded)[2]), other);
  // Without a filter, everything comes out.
  auto all = decode_packet(packet, kMaxStreamBytes);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 4u);
}

TEST(GossipCodec, AFilteredAliveIsStillValidated) {
  // A known alive with a byte of junk after its meta: the packet is rejected, filter or not.
  Bytes frame = encode_frame(Alive{Incarnation(5), "known", {"10.0.0.1", 8301}, Bytes{1, 2}});
  frame.push_back(0);
  frame[4] = static_cast<std::uint8_t>(frame[4] + 1);  // the frame length (u32 after the type)
  const Bytes packet = encode_packet(std::vector<Bytes>{frame});
  SkipKnown filter;
  EXPECT_FALSE(decode_packet(packet, kMaxStreamBytes, &filter));
  EXPECT_FALSE(decode_packet(packet, kMaxStreamBytes));
  // Every truncation of a packet of known alives is rejected with the filter too.
  const Bytes good =
      encode_packet(Message{Alive{Incarnation(5), "known", {"10.0.0.1", 8301}, Bytes{1, 2}}});
  ASSERT_TRUE(decode_packet(good, kMaxStreamBytes, &filter));
  for (std::size_t n = 0; n < good.size(); ++n) {
    Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(decode_packet(n >= kPacketHeaderBytes ? reseal(cut) : cut, kMaxStreamBytes, &filter))
        << n;
  }
}

RC_GTEST_PROP(GossipCodec, AliveAndSuspectRoundTrip,
              (std::uint32_t inc, const std::string& node, const std::string& from,
               std::uint16_t port)) {
  RC_PRE(!node.empty() && node.size() <= kMaxNameBytes && from.size() <= kMaxNameBytes);
  std::vector<Bytes> frames{encode_frame(Alive{Incarnation(inc), node, {"10.1.2.3", port}, {}}),
                            encode_frame(Suspect{Incarnation(inc), node, from})};
  auto decoded = decode_packet(encode_packet(frames), kMaxStreamBytes);
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(decoded->size() == 2u);
  RC_ASSERT((std::get<Alive>((*decoded)[0]).node == node));
  RC_ASSERT((std::get<Suspect>((*decoded)[1]).from == from));
}

TEST(SerfCodec, MessagesStateAndTagsRoundTrip) {
  const std::vector<SerfMessage> messages{JoinIntent{LamportTime(3), "a"},
                                          LeaveIntent{LamportTime(4), "b"},
                                          UserEvent{LamportTime(5), "deploy", Bytes{1, 2}}};
  for (const SerfMessage& m : messages) {
    auto decoded = decode_serf_message(encode_serf_message(m));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, m);
  }
  SerfState state{LamportTime(7),
                  LamportTime(9),
                  {{"a", LamportTime(2)}, {"b", LamportTime(3)}},
                  {"b"},
                  {UserEvent{LamportTime(8), "deploy", Bytes{3}}}};
  auto s = decode_serf_state(encode_serf_state(state));
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, state);
  Tags tags{{"role", "consul"}, {"dc", "dc1"}, {"port", "8300"}, {"vsn", "2"}};
  auto t = decode_tags(encode_tags(tags));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, tags);
  EXPECT_FALSE(decode_serf_message(Bytes{}));
  EXPECT_FALSE(decode_serf_message(Bytes{77}));
  EXPECT_FALSE(decode_tags(Bytes{0, 5, 0}));
}

TEST(GossipFormat, RendersMessages) {
  EXPECT_EQ(fmt::format("{}", Message{Suspect{Incarnation(4), "c", "a"}}),
            "suspect c inc=4 from=a");
  EXPECT_EQ(fmt::format("{}", Message{Ping{7, "b"}}), "ping seq=7 target=b");
  EXPECT_EQ(fmt::format("{}", Address{"10.0.0.1", 8301}), "10.0.0.1:8301");
}

}  // namespace
}  // namespace praetor::gossip
