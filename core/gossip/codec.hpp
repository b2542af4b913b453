// The gossip wire format. Hand-written, not cereal, for three reasons: piggybacking needs the
// exact encoded size of each queued message to fill a 1400-byte datagram (memberlist's compound
// packets), decoding untrusted datagrams must never throw or allocate beyond the bytes present,
// and a flat big-endian layout is easy to fuzz and to read in a hex dump.
//
// Packet (all integers big-endian):
//   u8 magic 0xA7 | u8 version (1) | u32 crc32c of everything after it | u8 count |
//   count x ( u8 MessageType | u32 body length | body )
// Strings are u16 length + bytes, byte blobs u32 length + bytes, each bounded by config.hpp caps.
// A packet is all-or-nothing: any bad frame rejects the whole packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"
#include "core/gossip/config.hpp"
#include "core/gossip/message.hpp"
#include "core/gossip/serf_message.hpp"

namespace praetor::gossip {

inline constexpr std::uint8_t kPacketMagic = 0xA7;
inline constexpr std::uint8_t kWireVersion = 1;
inline constexpr std::size_t kPacketHeaderBytes = 7;
inline constexpr std::size_t kFrameOverheadBytes = 5;
// One push/pull member entry without its variable parts: name length (2), host length (2),
// port (2), meta length (4), incarnation (4), state (1).
inline constexpr std::size_t kPushNodeFixedBytes = 15;

// One message with its frame header (type, length): the unit the broadcast queue holds.
Bytes encode_frame(const Message& message);
// Wraps frames into a packet (adds the header and checksum).
Bytes encode_packet(const std::vector<Bytes>& frames);
// The same in place, for a packet built by appending frames: begin_packet returns the header with
// room reserved for `capacity` bytes in all; finish_packet fills in the frame count and checksum.
Bytes begin_packet(std::size_t capacity);
void finish_packet(Bytes& packet, std::size_t frame_count);
inline Bytes encode_packet(const Message& message) {
  return encode_packet(std::vector<Bytes>{encode_frame(message)});
}
// An alive message as it sits in a packet, before anything is copied out of it.
struct AliveView {
  Incarnation incarnation;
  std::string_view node;
  std::string_view host;
  std::uint16_t port = 0;
  ByteView meta;
};
// Lets a receiver pass over alive messages it already knows, which is most of what a node hears
// while a cluster forms: such a frame is checked like any other, but no Message is built for it.
class AliveFilter {
 public:
  virtual bool known(const AliveView& alive) const = 0;

 protected:
  ~AliveFilter() = default;
};
// Rejects packets above max_bytes before reading anything. With a filter, alive messages it calls
// known are validated and then left out of the result.
Result<std::vector<Message>> decode_packet(ByteView packet, std::size_t max_bytes,
                                           const AliveFilter* skip = nullptr);

// Serf payloads inside UserMessage / PushPull::user_state / Alive::meta.
Bytes encode_serf_message(const SerfMessage& message);
Result<SerfMessage> decode_serf_message(ByteView data);
Bytes encode_serf_state(const SerfState& state);
Result<SerfState> decode_serf_state(ByteView data);
Bytes encode_tags(const Tags& tags);
Result<Tags> decode_tags(ByteView data);

}  // namespace praetor::gossip
