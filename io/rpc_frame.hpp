// RPC stream framing: [u32 length LE][u32 crc32c(payload) LE][payload]. Pure code, shared by the
// TCP transport and its tests. A decoder error means the stream is out of step or corrupt; the
// connection that produced it is closed.
#pragma once

#include <cstddef>
#include <optional>

#include "core/base/bytes.hpp"
#include "core/base/limits.hpp"
#include "core/base/result.hpp"

namespace praetor::io {

inline constexpr std::size_t kRpcFrameHeaderBytes = 8;

// payload.size() must be <= limits::kRpcMaxFrameBytes.
Bytes encode_rpc_frame(ByteView payload);

class RpcFrameDecoder {
 public:
  explicit RpcFrameDecoder(std::size_t max_frame_bytes = limits::kRpcMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  void feed(ByteView data);
  // The next complete frame's payload, nullopt when more bytes are needed, or an error
  // (kTooLarge, kCorruption) after which the decoder stays failed.
  Result<std::optional<Bytes>> next();
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::size_t max_frame_bytes_;
  Bytes buffer_;
  std::size_t offset_ = 0;
  std::optional<Error> failed_;
};

}  // namespace praetor::io
