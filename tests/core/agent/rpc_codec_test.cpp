#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/node/rpc.hpp"

namespace praetor::node {
namespace {

TEST(RpcCodec, RoundTripsEveryFrame) {
  ForwardRequest request{9, 12, "PUT", "/v1/kv/a b", {{"cas", "3"}, {"flags", ""}}, "value",
                         false, "c1"};
  ForwardRequest from_client{9, 13, "GET", "/v1/status/leader", {}, "", true, "n\xc3\xa9ud"};
  ForwardRequest from_wan{9, 14, "GET", "/v1/kv/a", {{"dc", "foshan"}}, "", true, "c1", true};
  ForwardResponse response{12, 200, {{"X-Consul-Index", "5"}}, "true"};
  const std::vector<RpcFrame> frames = {RaftPayload{to_bytes("raft bytes")}, request, from_client,
                                        from_wan, response};
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

TEST(RpcCodec, RejectsTooManyQueryPairs) {
  ForwardRequest request;
  for (int i = 0; i < 300; ++i) request.query.emplace_back("k", "v");
  EXPECT_FALSE(decode_rpc(encode_rpc(request)));
  request.query.resize(256);
  EXPECT_TRUE(decode_rpc(encode_rpc(request)));
}

TEST(RpcCodec, TheRetiredHelloKindIsRejected) {
  Bytes wire = encode_rpc(ForwardResponse{1, 200, {}, "x"});
  wire[0] = 2;  // Hello, before gossip took over discovery
  EXPECT_FALSE(decode_rpc(wire));
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
  ForwardRequest request{1, 2, "GET", "/v1/kv/a", {}, "", true, "c1"};
  Bytes wire = encode_rpc(request);
  // The last two bytes are `from_client` and `from_wan`.
  for (std::size_t at : {wire.size() - 2, wire.size() - 1}) {
    Bytes bad = wire;
    bad[at] = 14;
    EXPECT_FALSE(decode_rpc(bad));
    bad[at] = 1;
    EXPECT_TRUE(decode_rpc(bad));
  }
}

}  // namespace
}  // namespace praetor::node
