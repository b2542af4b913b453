#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/node/env.hpp"
#include "core/node/http.hpp"

namespace praetor::node {
namespace {

TEST(ParseTarget, DecodesPathAndQuery) {
  auto t = parse_target("/v1/kv/a%2Fb?recurse&x=1&name=a+b&t=%41");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/v1/kv/a/b");
  EXPECT_EQ(t->raw_path, "/v1/kv/a%2Fb");
  ASSERT_EQ(t->query.size(), 4u);
  EXPECT_EQ(t->query[0], (std::pair<std::string, std::string>{"recurse", ""}));
  EXPECT_EQ(t->query[2].second, "a b");
  EXPECT_EQ(t->query[3].second, "A");
}

TEST(ParseTarget, KeepsServiceIdsWithSpecialCharacters) {
  auto t = parse_target("/v1/agent/service/deregister/app%23127.0.0.1%233000");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/v1/agent/service/deregister/app#127.0.0.1#3000");
}

TEST(ParseTarget, RejectsBadInput) {
  EXPECT_FALSE(parse_target("/v1/kv/%zz"));
  EXPECT_FALSE(parse_target("/v1/kv/%4"));
  EXPECT_FALSE(parse_target("/v1/kv/%"));
  EXPECT_FALSE(parse_target("v1/kv"));
  EXPECT_FALSE(parse_target(""));
  EXPECT_FALSE(parse_target(std::string("/v1/kv/a\x01", 9)));
  auto r = parse_target("/v1/kv?x=%g1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("escape"), std::string::npos);
}

RC_GTEST_PROP(ParseTarget, NeverCrashes, (const std::string& s)) {
  auto t = parse_target("/" + s);
  if (t) RC_ASSERT(t->path.size() <= s.size() + 1);
}

TEST(HttpRequest, PresenceBasedFlags) {
  HttpRequest r;
  r.query = {{"recurse", "false"}, {"wan", ""}};
  EXPECT_TRUE(r.has_query("recurse"));
  EXPECT_TRUE(r.has_query("wan"));
  EXPECT_FALSE(r.has_query("raw"));
  EXPECT_EQ(r.query_value("recurse"), "false");
}

TEST(Endpoint, ParsesAndFormats) {
  auto a = parse_endpoint("127.0.0.2:8300", 1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.2");
  EXPECT_EQ(a->port, 8300);
  EXPECT_EQ(a->to_string(), "127.0.0.2:8300");
  auto b = parse_endpoint("10.0.0.1", 8301);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 8301);
  auto c = parse_endpoint("[::1]:8500", 0);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->to_string(), "[::1]:8500");
  EXPECT_FALSE(parse_endpoint("1.2.3.4:99999", 0));
  EXPECT_FALSE(parse_endpoint("1.2.3.4:x", 0));
  EXPECT_FALSE(parse_endpoint("", 0));
  EXPECT_FALSE(parse_endpoint("[::1", 0));
}

}  // namespace
}  // namespace praetor::node
