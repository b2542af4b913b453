#include "io/http_request_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// --- strict framing (issue 10, item 3) -------------------------------------------------------

struct Hostile {
  std::string name;
  std::string request;
  int status;
};

// Each case fed whole, and byte by byte (the state machine must not depend on how reads split).
void expect_error(const Hostile& h) {
  SCOPED_TRACE(h.name);
  {
    HttpRequestParser parser;
    auto out = parser.feed(view(h.request));
    ASSERT_EQ(out.kind, Kind::kError);
    EXPECT_EQ(out.status, h.status) << out.message;
    EXPECT_FALSE(out.message.empty());
  }
  {
    HttpRequestParser parser;
    HttpRequestParser::Outcome out;
    for (std::size_t i = 0; i < h.request.size(); ++i) {
      out = parser.feed(view(h.request.substr(i, 1)));
      ASSERT_NE(out.kind, Kind::kRequest) << "at byte " << i;
      if (out.kind == Kind::kError) break;
    }
    ASSERT_EQ(out.kind, Kind::kError);
    EXPECT_EQ(out.status, h.status) << out.message;
  }
}

const std::string kChunkedPut = "PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(HttpRequestParserFraming, ChunkDataMustEndWithCrlf) {
  // The smuggling example: it used to store "helloabc".
  expect_error({"junk after chunk data", kChunkedPut + "5\r\nhelloAB3\r\nabcZZ0\r\n\r\n", 400});
  expect_error({"LF only after chunk data", kChunkedPut + "5\r\nhello\n0\r\n\r\n", 400});
  expect_error({"CR only after chunk data", kChunkedPut + "5\r\nhello\rX0\r\n\r\n", 400});
}

TEST(HttpRequestParserFraming, ChunkSizeLinesAreStrict) {
  expect_error({"junk after the size", kChunkedPut + "5 junk\r\nhello\r\n0\r\n\r\n", 400});
  expect_error({"no digits", kChunkedPut + "\r\nhello\r\n0\r\n\r\n", 400});
  expect_error({"not hex", kChunkedPut + "g\r\nhello\r\n0\r\n\r\n", 400});
  expect_error({"sign", kChunkedPut + "+5\r\nhello\r\n0\r\n\r\n", 400});
  expect_error({"bare LF", kChunkedPut + "5\nhello\r\n0\r\n\r\n", 400});
  expect_error({"17 digits overflow u64", kChunkedPut + "10000000000000000\r\n", 400});
  expect_error({"17 digits, leading zeros", kChunkedPut + "00000000000000005\r\nhello\r\n", 400});
  expect_error({"16 digits, over the body limit", kChunkedPut + "ffffffffffffffff\r\n", 413});
  expect_error({"chunk line too long",
                kChunkedPut + "5;" + std::string(limits::kHttpMaxChunkLineBytes, 'e') + "\r\n",
                400});
}

TEST(HttpRequestParserFraming, ChunkExtensionsAndTrailersAreAcceptedAndDropped) {
  HttpRequestParser parser;
  std::string text = kChunkedPut +
                     "5;name=value\r\nhello\r\n6 ; quoted=\"a b\"\r\n world\r\n0\r\n"
                     "X-Trailer: t\r\nX-Consul-Token: smuggled\r\n\r\n"
                     "GET /next HTTP/1.1\r\n\r\n";
  auto out = parser.feed(view(text));
  ASSERT_EQ(out.kind, Kind::kRequest);
  auto r = parser.take_request();
  EXPECT_EQ(r.request.body, "hello world");
  // Trailers do not become headers.
  EXPECT_FALSE(r.request.header("x-consul-token").has_value());
  EXPECT_FALSE(r.request.header("x-trailer").has_value());
  // The request ends exactly after the empty line: the pipelined request follows.
  EXPECT_EQ(text.substr(out.consumed), "GET /next HTTP/1.1\r\n\r\n");
  auto next = parser.feed(view(text.substr(out.consumed)));
  ASSERT_EQ(next.kind, Kind::kRequest);
  EXPECT_EQ(parser.take_request().request.path, "/next");
}

TEST(HttpRequestParserFraming, TrailersAndExtensionsAreBounded) {
  HttpLimits limits;
  limits.max_headers = 3;
  limits.max_header_bytes = 512;
  {
    HttpRequestParser parser(limits);
    std::string text = kChunkedPut + "1\r\na\r\n0\r\n";
    for (int i = 0; i < 4; ++i) text += "T" + std::to_string(i) + ": v\r\n";
    auto out = parser.feed(view(text + "\r\n"));
    ASSERT_EQ(out.kind, Kind::kError);
    EXPECT_EQ(out.status, 431);
  }
  {
    // Many chunks, each with an extension under the line limit: their sum hits the budget.
    HttpRequestParser parser(limits);
    std::string text = kChunkedPut;
    for (int i = 0; i < 20; ++i) text += "1;" + std::string(40, 'e') + "\r\na\r\n";
    auto out = parser.feed(view(text));
    ASSERT_EQ(out.kind, Kind::kError);
    EXPECT_EQ(out.status, 431);
  }
  expect_error({"trailer without a colon", kChunkedPut + "0\r\nnocolon\r\n\r\n", 400});
  expect_error({"trailer with an empty name", kChunkedPut + "0\r\n: v\r\n\r\n", 400});
  expect_error({"trailer name with a space", kChunkedPut + "0\r\nX Y: v\r\n\r\n", 400});
}

TEST(HttpRequestParserFraming, TransferEncodingOtherThanChunkedIs501) {
  expect_error({"gzip, chunked",
                "PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                "5\r\nhello\r\n0\r\n\r\n",
                501});
  expect_error({"gzip", "PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nhello", 501});
  expect_error({"chunked twice",
                "PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                501});
  expect_error({"identity", "PUT / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501});
  // Exactly "chunked" (any case, surrounding whitespace) is fine.
  HttpRequestParser parser;
  auto out = parser.feed(
      view("PUT / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n"));
  ASSERT_EQ(out.kind, Kind::kRequest);
  EXPECT_EQ(parser.take_request().request.body, "ok");
}

TEST(HttpRequestParserFraming, ConflictingLengthsAre400) {
  expect_error({"CL and TE",
                "PUT / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                "0\r\n\r\n",
                400});
  expect_error({"TE and CL",
                "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                "0\r\n\r\n",
                400});
  expect_error({"two different CL",
                "PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400});
  // Go accepts two equal Content-Lengths; http_parser refuses any repeat. Stricter is safe.
  expect_error({"two equal CL",
                "PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400});
  expect_error({"CL with junk", "PUT / HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello", 400});
  expect_error({"CL negative", "PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400});
}

TEST(HttpRequestParserFraming, VersionsOtherThan10And11Are505AndNoVersionIs400) {
  expect_error({"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505});
  expect_error({"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505});
  expect_error({"HTTP/0.9 named", "GET / HTTP/0.9\r\n\r\n", 505});
  expect_error({"HTTP/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505});
  expect_error({"no version", "GET /\r\n\r\n", 400});
  expect_error({"no version, headers", "GET /\r\nHost: x\r\n\r\n", 400});
  expect_error({"lower-case version", "GET / http/1.1\r\n\r\n", 400});
  // Empty lines before a request are skipped (RFC 9112 §2.2) and do not hide its version.
  HttpRequestParser parser;
  ASSERT_EQ(parser.feed(view("\r\n\r\nGET / HTTP/1.0\r\n\r\n")).kind, Kind::kRequest);
  EXPECT_EQ(parser.take_request().http_minor, 0);
}

TEST(HttpRequestParserFraming, ChunkedRequestsPipelineAndSplitAnywhere) {
  std::string first = kChunkedPut + "3;x\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";
  std::string second = kChunkedPut + "1\r\nz\r\n0\r\n\r\n";
  std::string stream = first + second;
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    HttpRequestParser parser;
    std::vector<std::string> bodies;
    std::string pending;
    for (std::string piece : {stream.substr(0, cut), stream.substr(cut)}) {
      pending += piece;
      while (!pending.empty()) {
        auto out = parser.feed(view(pending));
        ASSERT_NE(out.kind, Kind::kError) << out.message;
        pending.erase(0, out.consumed);
        if (out.kind == Kind::kNeedMore) break;
        bodies.push_back(parser.take_request().request.body);
      }
    }
    EXPECT_EQ(bodies, (std::vector<std::string>{"abcde", "z"}));
  }
}

}  // namespace
}  // namespace praetor::io
