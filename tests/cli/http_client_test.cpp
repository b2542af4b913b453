// The CLI's blocking HTTP client against a scripted loopback server: chunked and
// Content-Length bodies, a server that keeps the connection open, and the deadline.
#include "cmd/praetor/http_client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace praetor::cmd {
namespace {

// Accepts one connection, records the request head, sends `reply`, then either closes at once
// or holds the connection open until the client closes it.
class OneShotServer {
 public:
  OneShotServer(std::string reply, bool close_after) : reply_(std::move(reply)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listener_, 1), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, close_after] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        request_.append(buf, static_cast<std::size_t>(n));
      }
      if (!reply_.empty()) (void)!::write(fd, reply_.data(), reply_.size());
      if (!close_after) {
        // Hold the connection until the client closes it.
        while (::read(fd, buf, sizeof(buf)) > 0) {
        }
      }
      ::close(fd);
    });
  }
  ~OneShotServer() {
    thread_.join();
    ::close(listener_);
  }
  HttpTarget target() const { return HttpTarget{"127.0.0.1", port_, ""}; }
  const std::string& request() const { return request_; }  // valid after the client returned

 private:
  std::string reply_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(HttpClientTest, ChunkedBodyAndRequestHeaders) {
  OneShotServer server(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Consul-Index: 7\r\n\r\n"
      "4\r\n[\"a\"\r\n1;ext=1\r\n]\r\n0\r\n\r\n",
      /*close_after=*/true);
  HttpRequest req;
  req.method = "PUT";
  req.target = "/v1/kv/a%20b?cas=0";
  req.headers["X-Consul-Token"] = "secret";
  req.body = "value";
  auto r = http_request(server.target(), req, 5000);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "[\"a\"]");
  EXPECT_EQ(r->headers.at("x-consul-index"), "7");
  // Joining the server thread happens in the destructor; the request head is complete already.
  EXPECT_NE(server.request().find("PUT /v1/kv/a%20b?cas=0 HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(server.request().find("X-Consul-Token: secret\r\n"), std::string::npos);
  EXPECT_NE(server.request().find("Content-Length: 5\r\n"), std::string::npos);
}

TEST(HttpClientTest, ContentLengthResponseOnAKeptOpenConnection) {
  OneShotServer server("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Consul-Index: 1\r\n\r\n",
                       /*close_after=*/false);
  auto r = http_request(server.target(), HttpRequest{}, 5000);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "");
}

TEST(HttpClientTest, SilentServerHitsTheDeadline) {
  OneShotServer server("", /*close_after=*/false);
  auto r = http_request(server.target(), HttpRequest{}, 200);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
}

TEST(HttpClientTest, GarbageResponseIsAnError) {
  OneShotServer server("SMTP ready\r\n\r\n", /*close_after=*/true);
  auto r = http_request(server.target(), HttpRequest{}, 5000);
  EXPECT_FALSE(r.has_value());
}

}  // namespace
}  // namespace praetor::cmd
