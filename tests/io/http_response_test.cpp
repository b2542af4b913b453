#include <gtest/gtest.h>

#include "io/http_server.hpp"

namespace praetor::io {
namespace {

TEST(HttpResponse, SerializesStatusHeadersLengthAndBody) {
  auto r = node::HttpResponse::json(200, "{\"a\":1}");
  r.set_header("X-Consul-Index", "7");
  std::string out = serialize_response(r, false, false, false, "Wed, 25 Nov 2026 10:00:00 GMT");
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 7\r\n"
            "Date: Wed, 25 Nov 2026 10:00:00 GMT\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
}

TEST(HttpResponse, HeadKeepsTheLengthButNotTheBody) {
  auto r = node::HttpResponse::text(404, "missing\n");
  std::string out = serialize_response(r, true, true, false, "");
  EXPECT_NE(out.find("HTTP/1.1 404 Not Found\r\n"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 8\r\n"), std::string::npos);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(HttpResponse, ServerOwnsFramingHeadersAndStripsLineBreaks) {
  node::HttpResponse r;
  r.status = 204;
  r.headers = {{"Content-Length", "99"}, {"X-Evil", "a\r\nSet-Cookie: x"}, {"Connection", "up"}};
  r.body = "ignored";
  std::string out = serialize_response(r, false, false, true, "");
  EXPECT_EQ(out,
            "HTTP/1.1 204 No Content\r\nX-Evil: aSet-Cookie: x\r\n"
            "Connection: keep-alive\r\n\r\n");
}

TEST(HttpResponse, DateIsImfFixdate) {
  EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(http_date(1795600000), "Wed, 25 Nov 2026 09:46:40 GMT");
}

}  // namespace
}  // namespace praetor::io
