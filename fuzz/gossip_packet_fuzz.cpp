// Fuzzes the gossip decoders: whole packets (with the checksum fixed up so the fuzzer explores
// the frames, not the CRC), and the Serf payloads (messages, push-pull state, tags). Anything a
// datagram on port 8301/8302 carries must be rejected or decoded, never crash; whatever decodes
// must survive a re-encode.
#include <cstdint>

#include "core/base/limits.hpp"
#include "core/gossip/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace praetor;
  Bytes packet(data, data + size);
  if (packet.size() >= gossip::kPacketHeaderBytes) {
    const std::uint32_t crc = crc32c(ByteView(packet).subspan(6));
    for (int i = 0; i < 4; ++i) packet[2 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  }
  auto messages = gossip::decode_packet(packet, 64 * 1024);
  if (messages) {
    for (const auto& m : *messages) {
      auto again = gossip::decode_packet(gossip::encode_packet(m), 64 * 1024);
      PRAETOR_ASSERT(again.has_value());
      PRAETOR_ASSERT(again->size() == 1);
    }
  }
  ByteView raw(data, size);
  if (auto m = gossip::decode_serf_message(raw)) {
    PRAETOR_ASSERT(gossip::decode_serf_message(gossip::encode_serf_message(*m)).has_value());
  }
  if (auto s = gossip::decode_serf_state(raw)) {
    PRAETOR_ASSERT(gossip::decode_serf_state(gossip::encode_serf_state(*s)).has_value());
  }
  if (auto t = gossip::decode_tags(raw)) {
    PRAETOR_ASSERT(gossip::decode_tags(gossip::encode_tags(*t)).has_value());
  }
  return 0;
}
