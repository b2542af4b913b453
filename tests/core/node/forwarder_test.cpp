// The forwarder's bookkeeping for requests that cross the WAN (`?dc=`, D61): the frame says so,
// the receiving side remembers it so the request never crosses again, and a WAN hop times out
// after the plain timeout (half a client's), naming the datacenter that did not answer.
#include <gtest/gtest.h>

#include "core/node/forwarder.hpp"

namespace praetor::node {
namespace {

HttpRequest get(std::string path) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  return r;
}

TEST(Forwarder, AWanHopIsMarkedAndTimesOutNamingItsDatacenter) {
  Rng rng(7);
  Forwarder f;
  f.start(rng);
  const Instant t0 = Instant::from_ns(1'000'000'000);
  ForwardRequest local = f.send(RequestId(1), get("/v1/kv/a"), true, t0, "10.0.0.1:8300");
  ForwardRequest wan =
      f.send(RequestId(2), get("/v1/kv/a"), true, t0, "10.0.1.1:8300", "foshan");
  EXPECT_FALSE(local.from_wan);
  EXPECT_TRUE(wan.from_wan);
  EXPECT_TRUE(wan.from_client);  // the remote server may hand it on to its leader
  // The WAN hop gives up after kTimeout; a client's request to its own server waits twice that.
  auto expired = f.take_expired(t0 + Forwarder::kTimeout);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].request, RequestId(2));
  EXPECT_EQ(expired[0].to, "10.0.1.1:8300");
  EXPECT_EQ(expired[0].datacenter, "foshan");
  expired = f.take_expired(t0 + Forwarder::kTimeout * 2);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].request, RequestId(1));
  EXPECT_EQ(expired[0].datacenter, "");
  f.check_invariants();
}

TEST(Forwarder, ARequestThatCameOverTheWanIsRemembered) {
  Rng rng(7);
  Forwarder f;
  f.start(rng);
  ForwardRequest over_wan{11, 1, "GET", "/v1/kv/a", {{"dc", "foshan"}}, "", true, "c1", true};
  ForwardRequest from_client{11, 2, "GET", "/v1/kv/a", {}, "", true, "c1", false};
  auto a = f.accept(over_wan, "10.0.0.9:40000", Instant::from_ns(1));
  auto b = f.accept(from_client, "10.0.0.9:40000", Instant::from_ns(1));
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(f.came_from_wan(*a));
  EXPECT_TRUE(f.may_forward(*a));  // on to this datacenter's leader
  EXPECT_FALSE(f.came_from_wan(*b));
  EXPECT_FALSE(f.came_from_wan(RequestId(5)));  // a local request
  // A duplicated frame is dropped, WAN or not.
  EXPECT_FALSE(f.accept(over_wan, "10.0.0.9:40000", Instant::from_ns(2)));
  // Once answered, the origin is forgotten.
  ASSERT_TRUE(f.take_origin(*a));
  EXPECT_FALSE(f.came_from_wan(*a));
  f.check_invariants();
}

}  // namespace
}  // namespace praetor::node
