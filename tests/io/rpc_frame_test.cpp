#include "io/rpc_frame.hpp"

#include <gtest/gtest.h>

namespace praetor::io {
namespace {

TEST(RpcFrame, RoundTripsSeveralFramesFedByteByByte) {
  std::vector<Bytes> payloads = {to_bytes("first"), Bytes{}, to_bytes(std::string(3000, 'x'))};
  Bytes stream;
  for (const auto& p : payloads) {
    Bytes f = encode_rpc_frame(p);
    EXPECT_EQ(f.size(), kRpcFrameHeaderBytes + p.size());
    EXPECT_EQ(get_u32_le(f.data()), p.size());
    stream.insert(stream.end(), f.begin(), f.end());
  }
  RpcFrameDecoder decoder;
  std::vector<Bytes> got;
  for (std::uint8_t b : stream) {
    decoder.feed(ByteView(&b, 1));
    while (true) {
      auto next = decoder.next();
      ASSERT_TRUE(next.has_value());
      if (!next->has_value()) break;
      got.push_back(std::move(**next));
    }
  }
  EXPECT_EQ(got, payloads);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(RpcFrame, ChecksumMismatchIsCorruption) {
  Bytes f = encode_rpc_frame(to_bytes("payload"));
  f.back() ^= 0x01;
  RpcFrameDecoder decoder;
  decoder.feed(f);
  auto next = decoder.next();
  ASSERT_FALSE(next.has_value());
  EXPECT_EQ(next.error().code, ErrorCode::kCorruption);
  // The decoder stays failed even if good bytes follow.
  decoder.feed(encode_rpc_frame(to_bytes("ok")));
  EXPECT_FALSE(decoder.next().has_value());
}

TEST(RpcFrame, OversizedLengthIsRejectedBeforeTheBodyArrives) {
  RpcFrameDecoder decoder(1024);
  Bytes header;
  put_u32_le(header, 1025);
  put_u32_le(header, 0);
  decoder.feed(header);
  auto next = decoder.next();
  ASSERT_FALSE(next.has_value());
  EXPECT_EQ(next.error().code, ErrorCode::kTooLarge);
}

TEST(RpcFrame, PartialHeaderNeedsMore) {
  RpcFrameDecoder decoder;
  Bytes f = encode_rpc_frame(to_bytes("abc"));
  decoder.feed(ByteView(f.data(), 5));
  auto next = decoder.next();
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(next->has_value());
  decoder.feed(ByteView(f.data() + 5, f.size() - 5));
  next = decoder.next();
  ASSERT_TRUE(next.has_value() && next->has_value());
  EXPECT_EQ(to_string(**next), "abc");
}

}  // namespace
}  // namespace praetor::io
