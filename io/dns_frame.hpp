// DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): each message is preceded by its length as
// a 16-bit big-endian number. Pure code, shared by the TCP transport and its tests.
//
// The decoder buffers at most one partial message beyond what the last feed() delivered: the
// transport feeds a read and then takes every whole message before reading again, so a
// connection holds at most 2 + 65,535 bytes between reads. A message shorter than a DNS header
// (12 bytes; a length prefix of 0 included) cannot be a query or an answer: it is an error, and
// the connection that sent it is closed. Anything longer is handed on whole, garbage or not; the
// DNS codec decides what it means (FORMERR, or nothing).
#pragma once

#include <cstddef>
#include <optional>

#include "core/base/bytes.hpp"
#include "core/base/limits.hpp"
#include "core/base/result.hpp"

namespace praetor::io {

inline constexpr std::size_t kDnsTcpPrefixBytes = 2;
inline constexpr std::size_t kDnsHeaderBytes = 12;
static_assert(limits::kDnsTcpMaxBytes == 0xffff, "the length prefix is 16 bits");

// message.size() must be <= limits::kDnsTcpMaxBytes.
Bytes encode_dns_tcp_frame(ByteView message);

class DnsTcpDecoder {
 public:
  void feed(ByteView data);
  // The next whole message (without its prefix), nullopt when more bytes are needed, or an
  // error (kInvalidArgument: a message shorter than a DNS header) after which the decoder stays
  // failed.
  Result<std::optional<Bytes>> next();
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  Bytes buffer_;
  std::size_t offset_ = 0;
  std::optional<Error> failed_;
};

}  // namespace praetor::io
