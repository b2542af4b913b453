#include "io/rpc_frame.hpp"

#include <fmt/format.h>

namespace praetor::io {

Bytes encode_rpc_frame(ByteView payload) {
  PRAETOR_ASSERT_MSG(payload.size() <= limits::kRpcMaxFrameBytes, "rpc frame of {} bytes",
                     payload.size());
  Bytes out;
  out.reserve(kRpcFrameHeaderBytes + payload.size());
  put_u32_le(out, static_cast<std::uint32_t>(payload.size()));
  put_u32_le(out, crc32c(payload));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void RpcFrameDecoder::feed(ByteView data) {
  if (failed_) return;
  // Compact once the consumed prefix dominates, so the buffer stays near one frame in size.
  if (offset_ > 0 && offset_ >= buffer_.size() / 2) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
}

Result<std::optional<Bytes>> RpcFrameDecoder::next() {
  if (failed_) return *failed_;
  if (buffered() < kRpcFrameHeaderBytes) return std::optional<Bytes>();
  const std::uint8_t* head = buffer_.data() + offset_;
  std::uint32_t length = get_u32_le(head);
  std::uint32_t checksum = get_u32_le(head + 4);
  if (length > max_frame_bytes_) {
    failed_ = make_error(ErrorCode::kTooLarge,
                         fmt::format("rpc frame of {} bytes exceeds {}", length, max_frame_bytes_));
    return *failed_;
  }
  if (buffered() < kRpcFrameHeaderBytes + length) return std::optional<Bytes>();
  ByteView payload(head + kRpcFrameHeaderBytes, length);
  if (crc32c(payload) != checksum) {
    failed_ = make_error(ErrorCode::kCorruption,
                         fmt::format("rpc frame checksum mismatch ({} bytes)", length));
    return *failed_;
  }
  Bytes out(payload.begin(), payload.end());
  offset_ += kRpcFrameHeaderBytes + length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return std::optional<Bytes>(std::move(out));
}

}  // namespace praetor::io
