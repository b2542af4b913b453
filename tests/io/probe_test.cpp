// HTTP and TCP checks through UvExec (as the host runs them) against a scripted server on
// 127.0.0.1: status, reason and body; cut and chunked bodies; the request as sent; refusals,
// resets, silence and trickles bounded by the timeout; malformed responses; redirects; TLS;
// close() with probes in flight.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "io/uv_exec.hpp"

namespace praetor::io {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// One accepted connection, plain or TLS, as the scripted server sees it.
class Conn {
 public:
  Conn(int fd, SSL* ssl, const std::atomic<bool>& stopping)
      : fd_(fd), ssl_(ssl), stopping_(stopping) {}

  bool send(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ssl_ != nullptr
                      ? SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done))
                      : ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // The request's header block and Content-Length body ("" if the peer went away first).
  std::string read_request() {
    std::string in;
    while (true) {
      auto end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        auto pos = in.find("Content-Length: ");
        if (pos != std::string::npos && pos < end) length = std::stoul(in.substr(pos + 16));
        if (in.size() >= end + 4 + length) return in;
      }
      char chunk[4096];
      ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof chunk)
                                  : ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return {};
      in.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Blocks until the client closes its end (or the server stops): a server that never answers.
  void wait_closed() {
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        char c;
        if (::recv(fd_, &c, 1, 0) <= 0) return;
      }
    }
  }

  // Sends one byte every 5 ms until the client goes away: it must still give up at its timeout.
  void trickle(char byte) {
    while (!stopping_ && send(std::string_view(&byte, 1))) {
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  // Close with RST instead of FIN.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }

 private:
  int fd_;
  SSL* ssl_;
  const std::atomic<bool>& stopping_;
};

// A server on 127.0.0.1 (ephemeral port) that reads each request, records it, and hands the
// connection to a scripted behaviour. Connections are served one at a time on its own thread.
class TestServer {
 public:
  using Behaviour = std::function<void(Conn&, const std::string& request)>;

  explicit TestServer(Behaviour behaviour, SSL_CTX* tls = nullptr)
      : behaviour_(std::move(behaviour)), tls_(tls) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(listen_fd_);
  }

  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/") const {
    return fmt::format("{}://127.0.0.1:{}{}", tls_ != nullptr ? "https" : "http", port_, path);
  }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stopping_) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      SSL* ssl = nullptr;
      if (tls_ != nullptr) {
        ssl = SSL_new(tls_);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1) {  // e.g. the client refused the certificate
          SSL_free(ssl);
          ::close(fd);
          continue;
        }
      }
      Conn conn(fd, ssl, stopping_);
      std::string request = conn.read_request();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(request);
      }
      if (!request.empty()) behaviour_(conn, request);
      if (ssl != nullptr) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
      }
      ::close(fd);
    }
  }

  Behaviour behaviour_;
  SSL_CTX* tls_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

TestServer::Behaviour respond(std::string response) {
  return [response](Conn& c, const std::string&) { c.send(response); };
}

// A port nothing listens on: bound once to learn a free one, then closed.
std::uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

node::ExecSpec http_spec(std::string url, Duration timeout = Duration::seconds(5),
                         std::size_t max = 4096) {
  node::ExecSpec spec;
  spec.kind = node::ExecSpec::Kind::kHttp;
  spec.http.url = std::move(url);
  spec.timeout = timeout;
  spec.output_max_bytes = max;
  return spec;
}

node::ExecSpec tcp_spec(std::string address, Duration timeout = Duration::seconds(5)) {
  node::ExecSpec spec;
  spec.kind = node::ExecSpec::Kind::kTcp;
  spec.tcp = std::move(address);
  spec.timeout = timeout;
  return spec;
}

class ProbeTest : public ::testing::Test {
 protected:
  ProbeTest() { uv_loop_init(&loop_); }
  ~ProbeTest() override {
    exec_.close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_TRUE(exec_.closed());
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Runs the loop until `count` results have arrived, or 20 s (a failure) have passed.
  void drive(std::size_t count) {
    uv_timer_t guard;
    uv_timer_init(&loop_, &guard);
    bool expired = false;
    guard.data = &expired;
    uv_timer_start(
        &guard, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 20000, 0);
    while (results_.size() < count && !expired) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_FALSE(expired) << "no result within 20 s";
  }

  node::ExecResult run_one(node::ExecSpec spec) {
    results_.clear();
    exec_.run(CheckRunId(1), std::move(spec));
    EXPECT_TRUE(results_.empty());  // never completed from inside run()
    drive(1);
    EXPECT_EQ(results_.size(), 1u);
    return results_.empty() ? node::ExecResult{} : results_.front();
  }

  uv_loop_t loop_{};
  NullLogger logger_;
  std::vector<node::ExecResult> results_;
  UvExec exec_{&loop_, logger_,
               [this](CheckRunId, node::ExecResult r) { results_.push_back(std::move(r)); }};
};

TEST_F(ProbeTest, OkResponseGivesStatusReasonAndBody) {
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
  auto r = run_one(http_spec(server.url("/health?deep=1")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.http_reason, "OK");
  EXPECT_EQ(r.output, "hello");
  // The request as Consul sends it.
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& req = requests[0];
  EXPECT_TRUE(req.starts_with("GET /health?deep=1 HTTP/1.1\r\n")) << req;
  EXPECT_NE(req.find(fmt::format("\r\nHost: 127.0.0.1:{}\r\n", server.port())), std::string::npos);
  EXPECT_NE(req.find("\r\nUser-Agent: Consul Health Check\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nAccept: text/plain, text/*, */*\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nConnection: close\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("Content-Length"), std::string::npos) << req;  // no body, no length
}

TEST_F(ProbeTest, ErrorStatusesAreResponsesNotFailures) {
  TestServer server([](Conn& c, const std::string& req) {
    if (req.starts_with("GET /500 ")) {
      c.send("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom");
    } else {
      c.send("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n");
    }
  });
  auto r = run_one(http_spec(server.url("/500")));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.http_status, 500);
  EXPECT_EQ(r.http_reason, "Internal Server Error");
  EXPECT_EQ(r.output, "boom");
  r = run_one(http_spec(server.url("/429")));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.http_status, 429);
  EXPECT_EQ(r.http_reason, "Too Many Requests");
  EXPECT_EQ(r.output, "");
}

TEST_F(ProbeTest, BodyIsCutAtOutputMaxBytes) {
  std::string body;
  for (int i = 0; body.size() < 100000; ++i) body += fmt::format("{},", i);
  TestServer server(
      respond(fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", body.size(), body)));
  auto r = run_one(http_spec(server.url(), Duration::seconds(5), 100));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.output, body.substr(0, 100));
}

TEST_F(ProbeTest, EndlessBodyEndsOnceOutputIsFull) {
  // No length, no end: the probe stops reading at output_max_bytes, long before its timeout.
  TestServer server([](Conn& c, const std::string&) {
    if (!c.send("HTTP/1.1 200 OK\r\n\r\n")) return;
    std::string block(4096, 'x');
    for (int i = 0; i < 100000 && c.send(block); ++i) {
    }
  });
  auto started = Clock::now();
  auto r = run_one(http_spec(server.url(), Duration::seconds(10), 1000));
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.output, std::string(1000, 'x'));
}

TEST_F(ProbeTest, ChunkedBodyIsDecoded) {
  TestServer server([](Conn& c, const std::string&) {
    c.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    std::this_thread::sleep_for(milliseconds(20));  // split across reads, not a synchronisation
    c.send("lo\r\n6\r\n world\r\n0\r\n\r\n");
  });
  auto r = run_one(http_spec(server.url()));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "hello world");
}

TEST_F(ProbeTest, BodyEndedByCloseIsComplete) {
  TestServer server(respond("HTTP/1.1 503 Service Unavailable\r\n\r\nmaintenance"));
  auto r = run_one(http_spec(server.url()));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.http_status, 503);
  EXPECT_EQ(r.output, "maintenance");
}

TEST_F(ProbeTest, PostSendsBodyAndMultiValuedHeaders) {
  TestServer server(respond("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
  auto spec = http_spec(server.url("/submit"));
  spec.http.method = "POST";
  spec.http.body = R"({"a":1})";
  spec.http.header["X-Multi"] = {"one", "two"};
  spec.http.header["User-Agent"] = {"custom-agent/1"};
  spec.http.header["Content-Length"] = {"999"};  // ignored: the transport frames the body
  auto r = run_one(spec);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.http_status, 201);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& req = requests[0];
  EXPECT_TRUE(req.starts_with("POST /submit HTTP/1.1\r\n")) << req;
  EXPECT_NE(req.find("\r\nX-Multi: one\r\nX-Multi: two\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nUser-Agent: custom-agent/1\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("Consul Health Check"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nContent-Length: 7\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("999"), std::string::npos) << req;
  EXPECT_TRUE(req.ends_with("\r\n\r\n{\"a\":1}")) << req;
}

TEST_F(ProbeTest, HostHeaderOverridesTheUrlHost) {
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto spec = http_spec(server.url());
  spec.http.header["host"] = {"api.example.com"};
  EXPECT_EQ(run_one(spec).exit_code, 0);
  auto req = server.requests().at(0);
  EXPECT_NE(req.find("\r\nHost: api.example.com\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("127.0.0.1"), std::string::npos) << req;
}

TEST_F(ProbeTest, UserinfoBecomesBasicAuthAndIsRedactedInErrors) {
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto r = run_one(http_spec(fmt::format("http://user:pa%20ss@127.0.0.1:{}/", server.port())));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto req = server.requests().at(0);
  EXPECT_NE(req.find("\r\nAuthorization: Basic dXNlcjpwYSBzcw==\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find(fmt::format("\r\nHost: 127.0.0.1:{}\r\n", server.port())), std::string::npos)
      << req;
  std::uint16_t port = closed_port();
  r = run_one(http_spec(fmt::format("http://user:secret@127.0.0.1:{}/", port)));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.output.find("secret"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(fmt::format("\"http://user:***@127.0.0.1:{}/\"", port)),
            std::string::npos)
      << r.output;
}

TEST_F(ProbeTest, HeaderInjectionIsRefused) {
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto spec = http_spec(server.url());
  spec.http.header["X-Evil"] = {"a\r\nX-Injected: yes"};
  auto r = run_one(spec);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.output.find("invalid header field value for \"X-Evil\""), std::string::npos)
      << r.output;
}

TEST_F(ProbeTest, ConnectionRefused) {
  std::uint16_t port = closed_port();
  auto r = run_one(http_spec(fmt::format("http://127.0.0.1:{}/x", port)));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_EQ(r.output, fmt::format("Get \"http://127.0.0.1:{0}/x\": dial tcp 127.0.0.1:{0}: "
                                  "connect: connection refused",
                                  port));
}

TEST_F(ProbeTest, ResetBeforeResponseIsAFailure) {
  TestServer server([](Conn& c, const std::string&) { c.reset(); });
  auto r = run_one(http_spec(server.url()));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.output.find("connection reset by peer"), std::string::npos) << r.output;
}

TEST_F(ProbeTest, CloseWithoutResponseIsEof) {
  TestServer server([](Conn&, const std::string&) {});
  auto r = run_one(http_spec(server.url("/x")));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.output, fmt::format("Get \"{}\": EOF", server.url("/x")));
}

TEST_F(ProbeTest, SilentServerTimesOutAtTheTimeout) {
  TestServer server([](Conn& c, const std::string&) { c.wait_closed(); });
  auto started = Clock::now();
  auto r = run_one(http_spec(server.url(), Duration::milliseconds(300)));
  auto elapsed = Clock::now() - started;
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.output, fmt::format("Get \"{}\": context deadline exceeded (Client.Timeout exceeded "
                                  "while awaiting headers)",
                                  server.url()));
  EXPECT_GE(elapsed, milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(ProbeTest, TricklingHeadersStillEndAtTheTimeout) {
  TestServer server([](Conn& c, const std::string&) {
    if (c.send("HTTP/1.1 200 OK\r\nX-Slow: ")) c.trickle('a');
  });
  auto started = Clock::now();
  auto r = run_one(http_spec(server.url(), Duration::milliseconds(400)));
  auto elapsed = Clock::now() - started;
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_TRUE(r.timed_out);
  EXPECT_GE(elapsed, milliseconds(390));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(ProbeTest, TricklingBodyEndsAtTheTimeoutWithTheStatus) {
  // Headers came: the status stands (Consul only logs the body read failing).
  TestServer server([](Conn& c, const std::string&) {
    if (c.send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")) c.trickle('b');
  });
  auto started = Clock::now();
  auto r = run_one(http_spec(server.url(), Duration::milliseconds(400)));
  auto elapsed = Clock::now() - started;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_FALSE(r.output.empty());
  EXPECT_EQ(r.output.find_first_not_of('b'), std::string::npos) << r.output;
  EXPECT_GE(elapsed, milliseconds(390));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(ProbeTest, MalformedStatusLineIsAFailure) {
  TestServer server(respond("HTTP/1.1 two-hundred OK\r\n\r\n"));
  auto r = run_one(http_spec(server.url()));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_NE(r.output.find("malformed HTTP response"), std::string::npos) << r.output;
}

TEST_F(ProbeTest, NotHttpAtAllIsAFailure) {
  TestServer server(respond("SSH-2.0-OpenSSH_9.2\r\n"));
  auto r = run_one(http_spec(server.url()));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.output.find("malformed HTTP response"), std::string::npos) << r.output;
}

TEST_F(ProbeTest, InformationalResponsesAreSkipped) {
  TestServer server(
      respond("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  auto r = run_one(http_spec(server.url()));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.output, "ok");
}

TEST_F(ProbeTest, HeadResponseHasNoBodyToWaitFor) {
  TestServer server([](Conn& c, const std::string&) {
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    c.wait_closed();
  });
  auto spec = http_spec(server.url(), Duration::seconds(10));
  spec.http.method = "HEAD";
  auto started = Clock::now();
  auto r = run_one(spec);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.output, "");
}

TEST_F(ProbeTest, RedirectsAreFollowed) {
  TestServer server([](Conn& c, const std::string& req) {
    if (req.starts_with("POST /old ")) {
      c.send("HTTP/1.1 303 See Other\r\nLocation: /new?x=1\r\nContent-Length: 0\r\n\r\n");
    } else {
      c.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nmoved");
    }
  });
  auto spec = http_spec(server.url("/old"));
  spec.http.method = "POST";
  spec.http.body = "payload";
  auto r = run_one(spec);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.output, "moved");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  // 303: the second request is a GET without the body.
  EXPECT_TRUE(requests[1].starts_with("GET /new?x=1 HTTP/1.1\r\n")) << requests[1];
  EXPECT_EQ(requests[1].find("payload"), std::string::npos) << requests[1];
}

TEST_F(ProbeTest, RedirectLoopStopsAfterTen) {
  TestServer server(respond("HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"));
  auto r = run_one(http_spec(server.url("/start")));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.output, fmt::format("Get \"{}\": stopped after 10 redirects", server.url("/again")));
  EXPECT_EQ(server.requests().size(), 11u);
}

TEST_F(ProbeTest, TimeoutAfterARedirectIsATimeout) {
  TestServer silent([](Conn& c, const std::string&) { c.wait_closed(); });
  TestServer mover(respond(
      fmt::format("HTTP/1.1 307 Temporary Redirect\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
                  silent.url("/slow"))));
  auto r = run_one(http_spec(mover.url(), Duration::milliseconds(300)));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.http_status, 0);  // the 307 was not the answer
  EXPECT_NE(r.output.find(silent.url("/slow")), std::string::npos) << r.output;
  EXPECT_EQ(silent.requests().size(), 1u);
}

TEST_F(ProbeTest, LocalhostResolves) {
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));
  // Whether localhost is ::1 first or not, the server on 127.0.0.1 is found.
  auto r = run_one(http_spec(fmt::format("http://localhost:{}/", server.port())));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "hi");
  auto req = server.requests().at(0);
  EXPECT_NE(req.find(fmt::format("\r\nHost: localhost:{}\r\n", server.port())), std::string::npos);
  r = run_one(tcp_spec(fmt::format("localhost:{}", server.port())));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(ProbeTest, UnsupportedSchemeAndBadUrlFail) {
  auto r = run_one(http_spec("ftp://127.0.0.1/x"));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.output, "Get \"ftp://127.0.0.1/x\": unsupported protocol scheme \"ftp\"");
  r = run_one(http_spec("not a url"));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.output.empty());
}

TEST_F(ProbeTest, TcpUpAndRefused) {
  TestServer server([](Conn&, const std::string&) {});
  auto r = run_one(tcp_spec(fmt::format("127.0.0.1:{}", server.port())));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.output, fmt::format("TCP connect 127.0.0.1:{}: Success", server.port()));
  std::uint16_t port = closed_port();
  r = run_one(tcp_spec(fmt::format("127.0.0.1:{}", port)));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.output, fmt::format("dial tcp 127.0.0.1:{}: connect: connection refused", port));
  r = run_one(tcp_spec("127.0.0.1"));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.output.find("missing port"), std::string::npos) << r.output;
}

TEST_F(ProbeTest, CloseWithProbesInFlightDeliversNothing) {
  TestServer silent([](Conn& c, const std::string&) { c.wait_closed(); });
  exec_.run(CheckRunId(1), http_spec(silent.url(), Duration::seconds(30)));
  // Let it connect and send its request, so that a connection is open when close() comes.
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_run(&loop_, UV_RUN_NOWAIT);
  exec_.run(CheckRunId(2), http_spec(fmt::format("http://localhost:{}/", silent.port()),
                                     Duration::seconds(30)));  // in the resolver
  exec_.run(CheckRunId(3), tcp_spec(fmt::format("127.0.0.1:{}", silent.port())));  // connecting
  exec_.run(CheckRunId(4), http_spec("ftp://127.0.0.1/"));  // failed, not yet delivered
  exec_.run(CheckRunId(5), node::ExecSpec::program({"/bin/sleep", "30"}, Duration::seconds(30),
                                                   100));  // and a script check beside them
  EXPECT_EQ(exec_.running(), 5u);
  exec_.close();
  EXPECT_FALSE(exec_.closed());  // handles close asynchronously
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(exec_.closed());
  EXPECT_EQ(exec_.running(), 0u);
  EXPECT_TRUE(results_.empty()) << results_.size() << " delivered, first: "
                                << (results_.empty() ? "" : results_.front().output);
}

TEST_F(ProbeTest, ManyProbesAtOnceEachCompleteOnce) {
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  std::vector<CheckRunId> done;
  UvExec exec(&loop_, logger_, [&](CheckRunId id, node::ExecResult r) {
    EXPECT_EQ(r.exit_code, 0) << r.output;
    done.push_back(id);
  });
  for (std::uint64_t i = 1; i <= 8; ++i) {
    exec.run(CheckRunId(i), i % 2 == 0 ? http_spec(server.url())
                                       : tcp_spec(fmt::format("127.0.0.1:{}", server.port())));
  }
  while (!exec.closed()) uv_run(&loop_, UV_RUN_ONCE);
  std::sort(done.begin(), done.end());
  ASSERT_EQ(done.size(), 8u);
  for (std::uint64_t i = 1; i <= 8; ++i) EXPECT_EQ(done[i - 1], CheckRunId(i));
  exec.close();
}

// ---- TLS ----

// A self-signed certificate for 127.0.0.1, made for the test run.
class SelfSigned {
 public:
  SelfSigned() {
    key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");  // EVP_EC_gen, minus its C cast
    cert_ = X509_new();
    X509_set_version(cert_, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert_), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert_), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert_), 24 * 3600);
    X509_set_pubkey(cert_, key_);
    X509_NAME* name = X509_get_subject_name(cert_);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("praetor-test"), -1, -1, 0);
    X509_set_issuer_name(cert_, name);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                              const_cast<char*>("IP:127.0.0.1"));
    X509_add_ext(cert_, san, -1);
    X509_EXTENSION_free(san);
    X509_sign(cert_, key_, EVP_sha256());
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, cert_);
    SSL_CTX_use_PrivateKey(ctx_, key_);
  }
  ~SelfSigned() {
    SSL_CTX_free(ctx_);
    X509_free(cert_);
    EVP_PKEY_free(key_);
  }
  SSL_CTX* ctx() { return ctx_; }

 private:
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
  SSL_CTX* ctx_ = nullptr;
};

TEST_F(ProbeTest, HttpsWithSkipVerify) {
  SelfSigned cert;
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"), cert.ctx());
  auto spec = http_spec(server.url("/tls"));
  spec.http.tls_skip_verify = true;
  auto r = run_one(spec);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.output, "secret");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].starts_with("GET /tls HTTP/1.1\r\n")) << requests[0];
}

TEST_F(ProbeTest, HttpsVerifiesTheCertificate) {
  SelfSigned cert;
  TestServer server(respond("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"), cert.ctx());
  auto r = run_one(http_spec(server.url()));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.output, fmt::format("Get \"{}\": tls: failed to verify certificate: x509: "
                                  "self-signed certificate",
                                  server.url()));
}

}  // namespace
}  // namespace praetor::io
