// The HTTP server over loopback sockets, with a small Process answering requests: keep-alive,
// pipelining with a late first answer, a client that leaves before its answer, protocol errors,
// timeouts and the connection cap.
#include <gtest/gtest.h>

#include <atomic>

#include "io/uv_host.hpp"
#include "tests/io/test_util.hpp"

namespace praetor::io {
namespace {

using testing::body_of;
using testing::Client;
using testing::HostThread;
using testing::Mailbox;

// Echoes requests; "/delay" is answered 50 ms later from the timer; "/after-delay" is answered
// only once every delayed request has been answered (so a test can wait for that, no sleeps).
class HttpProcess : public node::Process {
 public:
  void start(node::Env& env) override { env_ = &env; }
  void on_frame(const node::Endpoint&, node::Channel, Bytes) override {}
  void on_written(Ticket, Result<void>) override {}
  void on_check_result(CheckRunId, node::ExecResult) override {}
  void stop(node::StopReason) override { env_->control.shutdown(0); }

  void on_client_request(RequestId id, node::HttpRequest r) override {
    enter();
    requests.put(r.method + " " + r.path);
    if (r.path == "/delay") {
      delayed_.push_back(id);
      env_->timer.wake_at(env_->clock.now() + Duration::milliseconds(50));
    } else if (r.path == "/park") {
      // Never answered: a blocking query that outlives the test.
    } else if (r.path == "/after-delay" && delayed_answered_ == 0) {
      after_delay_.push_back(id);
    } else {
      std::string text = r.method + " " + r.path + " body=" + r.body;
      for (const auto& [k, v] : r.query) text += " " + k + "=" + v;
      env_->responder.respond(id, node::HttpResponse::text(200, text));
    }
    leave();
  }

  void on_wake(Instant) override {
    enter();
    for (RequestId id : delayed_) {
      env_->responder.respond(id, node::HttpResponse::text(200, "delayed"));
      ++delayed_answered_;
    }
    delayed_.clear();
    for (RequestId id : after_delay_) {
      env_->responder.respond(id, node::HttpResponse::text(200, "after"));
    }
    after_delay_.clear();
    leave();
  }

  Mailbox requests;
  std::atomic<bool> reentered{false};

 private:
  void enter() {
    if (depth_++ > 0) reentered = true;
  }
  void leave() { --depth_; }

  node::Env* env_ = nullptr;
  int depth_ = 0;
  std::vector<RequestId> delayed_;
  std::vector<RequestId> after_delay_;
  int delayed_answered_ = 0;
};

HostOptions http_options(HttpLimits limits = {}) {
  HostOptions o;
  o.http = limits;
  o.listeners = {Listener{node::Channel::kHttp, {"127.0.0.1", 0}}};
  return o;
}

TEST(HttpServer, KeepAliveServesTwoRequestsOnOneConnection) {
  HttpProcess process;
  HostThread host(process, http_options());
  Client c(host.port());
  ASSERT_TRUE(c.connected());
  c.send("GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
  auto first = c.read_response();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << *first;
  EXPECT_NE(first->find("Date: "), std::string::npos);
  EXPECT_EQ(body_of(*first), "GET /a body= x=1");
  c.send("PUT /b HTTP/1.1\r\nContent-Length: 4\r\n\r\ndata");
  auto second = c.read_response();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(body_of(*second), "PUT /b body=data");
  EXPECT_FALSE(process.reentered);
}

TEST(HttpServer, PipelinedResponsesKeepRequestOrderWhenTheFirstIsLate) {
  HttpProcess process;
  HostThread host(process, http_options());
  Client c(host.port());
  c.send("GET /delay HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\n");
  auto first = c.read_response();
  auto second = c.read_response();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(body_of(*first), "delayed");
  EXPECT_EQ(body_of(*second), "GET /fast body=");
}

TEST(HttpServer, ClientLeavingBeforeItsResponseIsHarmless) {
  HttpProcess process;
  HostThread host(process, http_options());
  {
    Client gone(host.port());
    gone.send("GET /delay HTTP/1.1\r\n\r\n");
    process.requests.wait_for(1);  // the request reached the process
  }
  // Answered only after the orphaned /delay response has been handed to the server.
  Client c(host.port());
  c.send("GET /after-delay HTTP/1.1\r\n\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(body_of(*r), "after");
  c.send("GET /still-alive HTTP/1.1\r\n\r\n");
  auto again = c.read_response();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(body_of(*again), "GET /still-alive body=");
}

struct BadCase {
  std::string request;
  std::string status_line;
};

TEST(HttpServer, ProtocolErrorsAreAnsweredAndClose) {
  HttpLimits limits;
  limits.max_body_bytes = 1024;
  limits.max_header_bytes = 2048;
  HttpProcess process;
  HostThread host(process, http_options(limits));
  std::vector<BadCase> cases = {
      {"\x01garbage\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
      {"GET /v1/kv/%zz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
      {"PUT /v1/kv/x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", "HTTP/1.1 413 "},
      {"GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'b') + "\r\n\r\n", "HTTP/1.1 431 "},
  };
  for (const auto& bad : cases) {
    Client c(host.port());
    c.send(bad.request);
    auto r = c.read_response();
    ASSERT_TRUE(r.has_value()) << bad.request.substr(0, 40);
    EXPECT_EQ(r->rfind(bad.status_line, 0), 0u) << *r;
    EXPECT_NE(r->find("Connection: close\r\n"), std::string::npos);
    EXPECT_FALSE(body_of(*r).empty());
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_TRUE(process.requests.items().empty());  // none reached the process
}

TEST(HttpServer, IncompleteHeadersTimeOutWith408) {
  HttpLimits limits;
  limits.header_timeout = Duration::milliseconds(100);
  HttpProcess process;
  HostThread host(process, http_options(limits));
  Client c(host.port());
  c.send("GET /slow HTTP/1.1\r\nHost: x\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << *r;
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, Http10GetsOneResponseThenClose) {
  HttpProcess process;
  HostThread host(process, http_options());
  Client c(host.port());
  c.send("GET /old HTTP/1.0\r\n\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(body_of(*r), "GET /old body=");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
  HttpProcess process;
  HostThread host(process, http_options());
  Client c(host.port());
  c.send("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(body_of(*r), "GET /bye body=");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, ChunkedExpectContinueAndHead) {
  HttpProcess process;
  HostThread host(process, http_options());
  Client c(host.port());
  c.send("PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  auto chunked = c.read_response();
  ASSERT_TRUE(chunked.has_value());
  EXPECT_EQ(body_of(*chunked), "PUT /c body=abc");

  c.send("PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  auto interim = c.read_response();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(*interim, "HTTP/1.1 100 Continue\r\n\r\n");
  c.send("ok");
  auto final_response = c.read_response();
  ASSERT_TRUE(final_response.has_value());
  EXPECT_EQ(body_of(*final_response), "PUT /e body=ok");

  c.send("HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n");
  auto head = c.read_response(true);
  ASSERT_TRUE(head.has_value());
  EXPECT_NE(head->find(fmt::format("Content-Length: {}\r\n", std::string("HEAD /h body=").size())),
            std::string::npos)
      << *head;
  // Had HEAD carried a body, the next response would not start right here.
  auto g = c.read_response();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(body_of(*g), "GET /g body=");
}

TEST(HttpServer, ConnectionsBeyondTheCapAreClosed) {
  HttpLimits limits;
  limits.max_connections = 2;
  HttpProcess process;
  HostThread host(process, http_options(limits));
  Client a(host.port());
  Client b(host.port());
  for (Client* c : {&a, &b}) {
    c->send("GET /hello HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(c->read_response().has_value());
  }
  Client refused(host.port());
  EXPECT_TRUE(refused.closed_by_peer());
  a.send("GET /again HTTP/1.1\r\n\r\n");
  auto r = a.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(body_of(*r), "GET /again body=");
}

TEST(HttpServer, IncompleteBodyTimesOutAndIdleConnectionsClose) {
  HttpLimits limits;
  limits.body_timeout = Duration::milliseconds(200);
  limits.idle_timeout = Duration::milliseconds(300);  // also runs from accept to the first byte
  HttpProcess process;
  HostThread host(process, http_options(limits));
  Client slow(host.port());
  slow.send("PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  auto r = slow.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rfind("HTTP/1.1 408 ", 0), 0u) << *r;
  EXPECT_TRUE(slow.closed_by_peer());

  Client idle(host.port());
  idle.send("GET /once HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(idle.read_response().has_value());
  EXPECT_TRUE(idle.closed_by_peer());  // nothing more was sent: closed after the idle timeout
}

TEST(HttpServer, TooManyPendingRequestsAre503) {
  HttpLimits limits;
  limits.max_pending_requests = 1;
  HttpProcess process;
  HostThread host(process, http_options(limits));
  Client parked(host.port());
  parked.send("GET /park HTTP/1.1\r\n\r\n");
  process.requests.wait_for(1);
  Client other(host.port());
  other.send("GET /x HTTP/1.1\r\n\r\n");
  auto r = other.read_response();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rfind("HTTP/1.1 503 ", 0), 0u) << *r;
  // The rejected connection stays usable once the parked request goes away.
  parked.close();
  std::optional<std::string> again;
  for (int i = 0; i < 100; ++i) {  // the server learns of the close asynchronously
    other.send("GET /y HTTP/1.1\r\n\r\n");
    again = other.read_response();
    if (!again || again->rfind("HTTP/1.1 200 ", 0) == 0) break;
  }
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(body_of(*again), "GET /y body=");
}

}  // namespace
}  // namespace praetor::io
