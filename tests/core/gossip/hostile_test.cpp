// Hostile peers: random (well-formed and malformed) messages about random members, from random
// addresses, over both transports, interleaved with time. Whatever arrives, the cores keep their
// invariants, stay within their caps, and never crash.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/gossip/codec.hpp"
#include "core/gossip/serf.hpp"

namespace praetor::gossip {
namespace {

const std::vector<std::string> kNames{"a", "b", "c", "d", ""};

Address gen_address() {
  const int i = *rc::gen::inRange(0, 4);
  return Address{i == 3 ? std::string() : "10.0.0." + std::to_string(i + 1), 8301};
}

Bytes gen_user_payload() {
  const std::string name =
      *rc::gen::element(std::string("a"), std::string("b"), std::string("deploy"));
  const auto ltime = LamportTime(*rc::gen::inRange<std::uint64_t>(0, 2000));
  switch (*rc::gen::inRange(0, 4)) {
    case 0:
      return encode_serf_message(JoinIntent{ltime, name});
    case 1:
      return encode_serf_message(LeaveIntent{ltime, name});
    case 2:
      return encode_serf_message(
          UserEvent{ltime, name, Bytes(*rc::gen::inRange<std::size_t>(0, 1300), 7)});
    default:
      return *rc::gen::container<Bytes>(rc::gen::arbitrary<std::uint8_t>());
  }
}

Message gen_message() {
  const std::string node = *rc::gen::elementOf(kNames);
  const std::string from = *rc::gen::elementOf(kNames);
  const Incarnation inc(*rc::gen::inRange<std::uint32_t>(0, 6));
  const auto seq = *rc::gen::inRange<std::uint32_t>(0, 8);
  switch (*rc::gen::inRange(0, 9)) {
    case 0:
      return Ping{seq, node};
    case 1:
      return IndirectPing{seq, node, gen_address(), *rc::gen::arbitrary<bool>()};
    case 2:
      return Ack{seq};
    case 3:
      return Nack{seq};
    case 4:
      return Suspect{inc, node, from};
    case 5: {
      Bytes meta = *rc::gen::arbitrary<bool>()
                       ? encode_tags({{"role", "node"}})
                       : *rc::gen::container<Bytes>(rc::gen::arbitrary<std::uint8_t>());
      if (meta.size() > kMaxMetaBytes) meta.resize(kMaxMetaBytes);
      return Alive{inc, node, gen_address(), meta};
    }
    case 6:
      return Dead{inc, node, from};
    case 7:
      return UserMessage{gen_user_payload()};
    default: {
      PushPull pp;
      pp.join = *rc::gen::arbitrary<bool>();
      pp.response = *rc::gen::arbitrary<bool>();
      const int n = *rc::gen::inRange(0, 6);
      for (int i = 0; i < n; ++i) {
        pp.nodes.push_back(PushNodeState{*rc::gen::elementOf(kNames),
                                         gen_address(),
                                         {},
                                         inc,
                                         static_cast<MemberState>(*rc::gen::inRange(0, 4))});
      }
      SerfState state;
      state.member_ltime = LamportTime(*rc::gen::inRange<std::uint64_t>(0, 50));
      state.left_members = {*rc::gen::elementOf(kNames)};
      state.status_ltimes = {{*rc::gen::elementOf(kNames), LamportTime(3)}};
      pp.user_state = encode_serf_state(state);
      return pp;
    }
  }
}

RC_GTEST_PROP(GossipHostile, SerfSurvivesAnyMessageSequence, ()) {
  NullLogger logger;
  SerfConfig config = SerfConfig::local("a", Address{"10.0.0.1", 8301});
  Serf serf(config, Rng(*rc::gen::arbitrary<std::uint64_t>()), logger);
  Instant now = Instant::zero();
  serf.join(now, {Address{"10.0.0.2", 8301}});
  const int steps = *rc::gen::inRange(1, 80);
  for (int i = 0; i < steps; ++i) {
    now = now + Duration::milliseconds(*rc::gen::inRange(0, 3000));
    if (*rc::gen::inRange(0, 4) == 0) {
      serf.advance_time(now);
      // advance_time fires everything due, so the next deadline lies in the future.
      RC_ASSERT(serf.next_deadline() > now);
    } else {
      std::vector<Bytes> frames;
      const int n = *rc::gen::inRange(1, 4);
      for (int k = 0; k < n; ++k) frames.push_back(encode_frame(gen_message()));
      const Transport t = *rc::gen::arbitrary<bool>() ? Transport::kStream : Transport::kPacket;
      serf.step(now, gen_address(), encode_packet(frames), t);
    }
    serf.check_invariants();
    for (const OutboundPacket& p : serf.take_output().packets) {
      RC_ASSERT(
          p.bytes.size() <=
          (p.transport == Transport::kStream ? kMaxStreamBytes : limits::kGossipMaxPacketBytes));
      RC_ASSERT(decode_packet(p.bytes, kMaxStreamBytes).has_value());
    }
  }
  RC_ASSERT(serf.members().contains("a"));
  RC_ASSERT(serf.members().at("a").status == SerfStatus::kAlive);
}

}  // namespace
}  // namespace praetor::gossip
