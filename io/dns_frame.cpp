#include "io/dns_frame.hpp"

#include <fmt/format.h>

namespace praetor::io {

Bytes encode_dns_tcp_frame(ByteView message) {
  PRAETOR_ASSERT_MSG(message.size() <= limits::kDnsTcpMaxBytes, "dns message of {} bytes",
                     message.size());
  Bytes out;
  out.reserve(kDnsTcpPrefixBytes + message.size());
  out.push_back(static_cast<std::uint8_t>(message.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(message.size() & 0xff));
  out.insert(out.end(), message.begin(), message.end());
  return out;
}

void DnsTcpDecoder::feed(ByteView data) {
  if (failed_) return;
  // Drop the consumed prefix before appending: what stays is at most one partial message.
  if (offset_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
}

Result<std::optional<Bytes>> DnsTcpDecoder::next() {
  if (failed_) return *failed_;
  if (buffered() < kDnsTcpPrefixBytes) return std::optional<Bytes>();
  const std::uint8_t* head = buffer_.data() + offset_;
  const std::size_t length = (std::size_t{head[0]} << 8) | head[1];
  if (length < kDnsHeaderBytes) {
    failed_ = make_error(ErrorCode::kInvalidArgument,
                         fmt::format("dns message of {} bytes is shorter than a header", length));
    return *failed_;
  }
  if (buffered() < kDnsTcpPrefixBytes + length) return std::optional<Bytes>();
  Bytes out(head + kDnsTcpPrefixBytes, head + kDnsTcpPrefixBytes + length);
  offset_ += kDnsTcpPrefixBytes + length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return std::optional<Bytes>(std::move(out));
}

}  // namespace praetor::io
