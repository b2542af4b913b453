#include "io/http_request_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace praetor::io {
namespace {

ByteView view(const std::string& s) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

using Kind = HttpRequestParser::Kind;

TEST(HttpRequestParser, ParsesGetWithQueryAndHeaders) {
  HttpRequestParser parser;
  std::string text =
      "GET /v1/kv/a%2Fb?recurse&dc=dc1&key=x%20y HTTP/1.1\r\nHost: localhost\r\n"
      "X-Consul-Token: abc\r\n\r\n";
  auto out = parser.feed(view(text));
  ASSERT_EQ(out.kind, Kind::kRequest);
  EXPECT_EQ(out.consumed, text.size());
  auto parsed = parser.take_request();
  EXPECT_EQ(parsed.request.method, "GET");
  EXPECT_EQ(parsed.request.path, "/v1/kv/a/b");
  EXPECT_EQ(parsed.request.raw_path, "/v1/kv/a%2Fb");
  EXPECT_TRUE(parsed.request.has_query("recurse"));
  EXPECT_EQ(parsed.request.query_value("dc"), "dc1");
  EXPECT_EQ(parsed.request.query_value("key"), "x y");
  ASSERT_EQ(parsed.request.headers.size(), 2u);
  EXPECT_EQ(parsed.request.headers[1].first, "x-consul-token");  // lower-cased
  EXPECT_EQ(parsed.request.headers[1].second, "abc");
  EXPECT_TRUE(parsed.keep_alive);
  EXPECT_FALSE(parsed.head);
}

TEST(HttpRequestParser, PipelinedRequestsComeOutOneAtATime) {
  HttpRequestParser parser;
  std::string first = "PUT /v1/kv/x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  std::string second = "GET /v1/kv/x HTTP/1.1\r\n\r\n";
  std::string both = first + second;
  auto out = parser.feed(view(both));
  ASSERT_EQ(out.kind, Kind::kRequest);
  EXPECT_EQ(out.consumed, first.size());
  auto a = parser.take_request();
  EXPECT_EQ(a.request.method, "PUT");
  EXPECT_EQ(a.request.body, "hello");
  std::string rest = both.substr(out.consumed);
  out = parser.feed(view(rest));
  ASSERT_EQ(out.kind, Kind::kRequest);
  EXPECT_EQ(out.consumed, rest.size());
  auto b = parser.take_request();
  EXPECT_EQ(b.request.method, "GET");
  EXPECT_TRUE(b.request.body.empty());
}

TEST(HttpRequestParser, ByteAtATimeGivesTheSameRequest) {
  HttpRequestParser parser;
  std::string text =
      "POST /v1/txn?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    auto out = parser.feed(view(text.substr(i, 1)));
    ASSERT_EQ(out.kind, Kind::kNeedMore) << "at byte " << i;
    EXPECT_EQ(out.consumed, 1u);
    EXPECT_TRUE(parser.started());
  }
  EXPECT_TRUE(parser.headers_complete());
  auto out = parser.feed(view(text.substr(text.size() - 1)));
  ASSERT_EQ(out.kind, Kind::kRequest);
  auto r = parser.take_request();
  EXPECT_EQ(r.request.body, "hello world");
  EXPECT_EQ(r.request.query_value("x"), "1");
  EXPECT_FALSE(parser.started());  // reset for the next request
}

TEST(HttpRequestParser, ChunkedBody) {
  HttpRequestParser parser;
  std::string text =
      "PUT /v1/kv/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  auto out = parser.feed(view(text));
  ASSERT_EQ(out.kind, Kind::kRequest);
  EXPECT_EQ(parser.take_request().request.body, "hello world");
}

TEST(HttpRequestParser, HeaderBlockOverTheLimitIs431) {
  HttpLimits limits;
  limits.max_header_bytes = 1024;
  HttpRequestParser parser(limits);
  std::string text = "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
  auto out = parser.feed(view(text));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 431);
  // A failed parser stays failed.
  EXPECT_EQ(parser.feed(view("GET / HTTP/1.1\r\n\r\n")).kind, Kind::kError);
}

TEST(HttpRequestParser, TooManyHeadersIs431) {
  HttpLimits limits;
  limits.max_headers = 3;
  HttpRequestParser parser(limits);
  std::string text = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) text += "H" + std::to_string(i) + ": v\r\n";
  text += "\r\n";
  auto out = parser.feed(view(text));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 431);
}

TEST(HttpRequestParser, DeclaredBodyOverTheLimitIs413BeforeItArrives) {
  HttpLimits limits;
  limits.max_body_bytes = 100;
  HttpRequestParser parser(limits);
  auto out = parser.feed(view("PUT /v1/kv/x HTTP/1.1\r\nContent-Length: 101\r\n\r\n"));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 413);
}

TEST(HttpRequestParser, ChunkedBodyOverTheLimitIs413) {
  HttpLimits limits;
  limits.max_body_bytes = 8;
  HttpRequestParser parser(limits);
  auto out = parser.feed(view(
      "PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n"));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 413);
}

TEST(HttpRequestParser, GarbageIs400) {
  HttpRequestParser parser;
  auto out = parser.feed(view("\x01\x02 hello there\r\n\r\n"));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 400);
  EXPECT_FALSE(out.message.empty());
}

TEST(HttpRequestParser, BadPercentEscapeIs400) {
  HttpRequestParser parser;
  auto out = parser.feed(view("GET /v1/kv/%zz HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 400);
  EXPECT_NE(out.message.find("escape"), std::string::npos) << out.message;
}

TEST(HttpRequestParser, ContentLengthWithChunkedIs400) {
  HttpRequestParser parser;
  auto out = parser.feed(
      view("PUT / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 400);
}

TEST(HttpRequestParser, Http10ClosesUnlessKeepAliveAsked) {
  {
    HttpRequestParser parser;
    ASSERT_EQ(parser.feed(view("GET / HTTP/1.0\r\n\r\n")).kind, Kind::kRequest);
    auto r = parser.take_request();
    EXPECT_FALSE(r.keep_alive);
    EXPECT_EQ(r.http_minor, 0);
  }
  {
    HttpRequestParser parser;
    ASSERT_EQ(parser.feed(view("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")).kind,
              Kind::kRequest);
    EXPECT_TRUE(parser.take_request().keep_alive);
  }
  {
    HttpRequestParser parser;
    ASSERT_EQ(parser.feed(view("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")).kind,
              Kind::kRequest);
    EXPECT_FALSE(parser.take_request().keep_alive);
  }
}

TEST(HttpRequestParser, ExpectContinueIsReportedOnceBeforeTheBody) {
  HttpRequestParser parser;
  auto out =
      parser.feed(view("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  ASSERT_EQ(out.kind, Kind::kNeedMore);
  EXPECT_TRUE(parser.take_expect_continue());
  EXPECT_FALSE(parser.take_expect_continue());
  out = parser.feed(view("abc"));
  ASSERT_EQ(out.kind, Kind::kRequest);
  EXPECT_EQ(parser.take_request().request.body, "abc");
}

TEST(HttpRequestParser, HeadIsFlagged) {
  HttpRequestParser parser;
  ASSERT_EQ(parser.feed(view("HEAD /v1/status/leader HTTP/1.1\r\n\r\n")).kind, Kind::kRequest);
  auto r = parser.take_request();
  EXPECT_TRUE(r.head);
  EXPECT_EQ(r.request.method, "HEAD");
}

TEST(HttpRequestParser, RelativeTargetIs400) {
  HttpRequestParser parser;
  auto out = parser.feed(view("GET v1/kv HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(out.kind, Kind::kError);
  EXPECT_EQ(out.status, 400);
}

}  // namespace
}  // namespace praetor::io
