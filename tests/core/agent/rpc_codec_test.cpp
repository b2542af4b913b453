#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/node/rpc.hpp"

namespace praetor::node {
namespace {

TEST(RpcCodec, RoundTripsEveryFrame) {
  Hello hello;
  hello.self = ServerInfo{"s1", "0c1f2e3d-4b5a-4c6d-8e7f-001122334455", "shenzhen",
                          "127.0.0.2:8300", 42, 3, true};
  hello.known.push_back(ServerInfo{"s2", "id2", "shenzhen", "127.0.0.3:8300", 7, 3, false});
  hello.reply = true;
  ForwardRequest request{9, 12, "PUT", "/v1/kv/a b", {{"cas", "3"}, {"flags", ""}}, "value"};
  ForwardResponse response{12, 200, {{"X-Consul-Index", "5"}}, "true"};
  const std::vector<RpcFrame> frames = {RaftPayload{to_bytes("raft bytes")}, hello, request,
                                        response};
  for (const auto& frame : frames) {
    Bytes wire = encode_rpc(frame);
    auto back = decode_rpc(wire);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, frame);
  }
}

TEST(RpcCodec, RejectsBadHeadersAndTrailingBytes) {
  Bytes wire = encode_rpc(ForwardResponse{1, 200, {}, "x"});
  EXPECT_FALSE(decode_rpc(Bytes{}));
  EXPECT_FALSE(decode_rpc(Bytes{4, 1}));
  Bytes bad_kind = wire;
  bad_kind[0] = 99;
  EXPECT_FALSE(decode_rpc(bad_kind));
  Bytes bad_version = wire;
  bad_version[1] = 7;
  EXPECT_FALSE(decode_rpc(bad_version));
  Bytes trailing = wire;
  trailing.push_back(1);
  EXPECT_FALSE(decode_rpc(trailing));
}

TEST(RpcCodec, RejectsTooManyKnownServers) {
  Hello hello;
  for (int i = 0; i < 300; ++i) hello.known.push_back(ServerInfo{"n", "i", "dc", "a", 1, 0, false});
  EXPECT_FALSE(decode_rpc(encode_rpc(hello)));
}

RC_GTEST_PROP(RpcCodec, GarbageNeverCrashes, (const std::vector<std::uint8_t>& garbage)) {
  auto r = decode_rpc(garbage);
  if (r && r->index() != 0) RC_ASSERT(encode_rpc(*r) == garbage);
}

}  // namespace
}  // namespace praetor::node

namespace praetor::node {
namespace {

TEST(RpcCodec, ABooleanByteOtherThanZeroOrOneIsRejected) {
  Hello hello;
  hello.self.bootstrapped = true;
  Bytes wire = encode_rpc(hello);
  // The last byte is `reply`; the one before the (empty) known list's size tag is `bootstrapped`.
  wire.back() = 14;
  EXPECT_FALSE(decode_rpc(wire));
  wire.back() = 1;
  EXPECT_TRUE(decode_rpc(wire));
}

}  // namespace
}  // namespace praetor::node
