// UvNetwork's DNS transport (issue 13), on a libuv loop in the test thread with a manual clock
// and raw loopback sockets as clients: UDP queries arrive with their sender and answers leave from
// the DNS socket; TCP length-prefix framing with pipelined queries; hostile streams (a zero
// length, a partial message, a short message after a maximal one); the idle timeout; the
// connection cap; a clear error for an address in use. Also the pure DnsTcpDecoder. Every wait
// runs the loop until a condition holds (or 20 s pass, which fails the test).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/base/rng.hpp"
#include "io/dns_frame.hpp"
#include "io/uv_network.hpp"

namespace praetor::io {
namespace {

using node::Channel;
using node::Endpoint;

struct Frame {
  Endpoint from;
  Channel channel;
  std::string payload;
};

// A DNS-shaped payload: at least a header's 12 bytes, recognisable in assertions.
std::string message(std::string_view tag) {
  std::string out = "hdr-12-bytes";
  out += tag;
  return out;
}

std::string prefixed(std::string_view payload) {
  Bytes frame = encode_dns_tcp_frame(
      ByteView(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
  return std::string(frame.begin(), frame.end());
}

// One loop with a manual clock; a 5 ms ticker keeps UV_RUN_ONCE from blocking for long.
class Loop {
 public:
  Loop() {
    EXPECT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &ticker_);
    uv_timer_start(
        &ticker_, [](uv_timer_t*) {}, 5, 5);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker_), nullptr);
    while (uv_run(&loop_, UV_RUN_DEFAULT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  uv_loop_t* get() { return &loop_; }
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }
  Instant now() const { return now_; }
  void advance(Duration d) { now_ = now_ + d; }

 private:
  uv_loop_t loop_{};
  uv_timer_t ticker_{};
  Instant now_ = Instant::from_ns(1'000'000'000);
};

// The agent's side: a UvNetwork that records what it receives.
class Server {
 public:
  explicit Server(Loop& loop, NetworkOptions options = {})
      : loop_(loop),
        net_(
            loop.get(), logger_,
            [this](const Endpoint& from, Channel channel, Bytes payload) {
              frames.push_back(Frame{from, channel, std::string(payload.begin(), payload.end())});
            },
            with_clock(loop, std::move(options))) {}
  ~Server() {
    net_.close();
    EXPECT_TRUE(loop_.run_until([this] { return net_.closed(); }));
  }
  Endpoint listen(Channel channel, std::uint16_t port = 0) {
    auto bound = net_.listen(channel, Endpoint{"127.0.0.1", port});
    EXPECT_TRUE(bound.has_value()) << (bound ? "" : bound.error().message);
    return bound ? *bound : Endpoint{};
  }
  void send(const Endpoint& to, Channel channel, std::string_view text) {
    net_.send(to, channel, Bytes(text.begin(), text.end()));
  }
  UvNetwork& net() { return net_; }
  std::size_t connections() const { return net_.connection_count(Channel::kDnsStream); }

  std::vector<Frame> frames;

 private:
  static NetworkOptions with_clock(Loop& loop, NetworkOptions options) {
    options.clock = [&loop] { return loop.now(); };
    return options;
  }
  Loop& loop_;
  NullLogger logger_;
  UvNetwork net_;
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A non-blocking loopback socket the test thread drives between loop iterations.
class Socket {
 public:
  explicit Socket(int type) {
    fd_ = ::socket(AF_INET, type | SOCK_NONBLOCK, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_in a = loopback(0);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Socket() { close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  Endpoint local() const {
    sockaddr_in a{};
    socklen_t length = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &length);
    return Endpoint{"127.0.0.1", ntohs(a.sin_port)};
  }
  int fd() const { return fd_; }

 protected:
  int fd_ = -1;
};

class UdpClient : public Socket {
 public:
  UdpClient() : Socket(SOCK_DGRAM) {}
  void send_to(const Endpoint& to, std::string_view data) {
    sockaddr_in a = loopback(to.port);
    ASSERT_EQ(::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a),
              static_cast<ssize_t>(data.size()));
  }
  // One datagram if one is waiting, with the port it came from.
  std::optional<std::pair<std::uint16_t, std::string>> receive() {
    char buffer[65536];
    sockaddr_in from{};
    socklen_t length = sizeof from;
    ssize_t n =
        ::recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &length);
    if (n < 0) return std::nullopt;
    return std::pair{ntohs(from.sin_port), std::string(buffer, static_cast<std::size_t>(n))};
  }
};

class TcpClient : public Socket {
 public:
  explicit TcpClient(const Endpoint& to) : Socket(SOCK_STREAM) {
    sockaddr_in a = loopback(to.port);
    int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    EXPECT_TRUE(rc == 0 || errno == EINPROGRESS);
  }
  // Writes everything; the loop runs between partial writes, as the server must read to make
  // room.
  bool write_all(Loop& loop, std::string_view data) {
    std::size_t done = 0;
    return loop.run_until([&] {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) done += static_cast<std::size_t>(n);
      return done == data.size() || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }) && done == data.size();
  }
  // Reads what is there; sets eof on an orderly close or a reset.
  void poll() {
    char chunk[65536];
    while (true) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        received.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
      return;
    }
  }
  std::string received;
  bool eof = false;
};

NetworkOptions dns_options() {
  NetworkOptions o;
  o.dns_tcp_idle_timeout = Duration::milliseconds(200);  // the sweep runs every 50 ms
  return o;
}

// --- UDP --------------------------------------------------------------------------------------

TEST(DnsUdp, QueryArrivesWithItsSenderAndTheAnswerLeavesFromTheDnsPort) {
  Loop loop;
  Server server(loop);
  Endpoint dns = server.listen(Channel::kDns);
  ASSERT_NE(dns.port, 0);
  UdpClient client;
  client.send_to(dns, message("query-1"));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 1; }));
  EXPECT_EQ(server.frames[0].channel, Channel::kDns);
  EXPECT_EQ(server.frames[0].payload, message("query-1"));
  EXPECT_EQ(server.frames[0].from, client.local());

  server.send(server.frames[0].from, Channel::kDns, message("answer-1"));
  std::optional<std::pair<std::uint16_t, std::string>> got;
  ASSERT_TRUE(loop.run_until([&] { return (got = client.receive()).has_value(); }));
  EXPECT_EQ(got->first, dns.port);  // a resolver drops answers from another port
  EXPECT_EQ(got->second, message("answer-1"));
  EXPECT_EQ(server.net().stats().udp_send_failures, 0u);

  // Shorter than a DNS header (an empty datagram included): dropped at the host.
  client.send_to(dns, "");
  client.send_to(dns, "eleven-byte");
  client.send_to(dns, message("query-2"));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 2; }));
  EXPECT_EQ(server.frames[1].payload, message("query-2"));
  EXPECT_EQ(server.net().stats().dns_short_datagrams, 2u);
}

// Many datagrams at once (several recvmmsg batches): all arrive, in order, and each answer
// reaches its client; the kernel granted the socket a buffer. With batched sends (the default)
// the 200 answers leave in a few sendmmsg() calls; without, one uv_udp_try_send each.
class DnsUdpBurst : public ::testing::TestWithParam<bool> {};

TEST_P(DnsUdpBurst, BurstOfQueriesIsReadAndAnswered) {
  Loop loop;
  NetworkOptions options;
  options.dns_udp_batch_sends = GetParam();
  Server server(loop, options);
  Endpoint dns = server.listen(Channel::kDns);
  EXPECT_GT(server.net().dns_udp_recv_buffer_bytes(), 0u);
  UdpClient client;
  constexpr int kQueries = 200;
  for (int i = 0; i < kQueries; ++i) client.send_to(dns, message(std::to_string(i)));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == kQueries; }));
  for (int i = 0; i < kQueries; ++i) {
    EXPECT_EQ(server.frames[static_cast<std::size_t>(i)].payload, message(std::to_string(i)));
    server.send(server.frames[static_cast<std::size_t>(i)].from, Channel::kDns,
                message("a" + std::to_string(i)));
  }
  std::vector<std::string> answers;
  ASSERT_TRUE(loop.run_until([&] {
    while (auto got = client.receive()) answers.push_back(got->second);
    return answers.size() == kQueries;
  }));
  EXPECT_EQ(answers.front(), message("a0"));
  EXPECT_EQ(answers.back(), message("a199"));
  EXPECT_EQ(server.net().stats().udp_send_failures, 0u);
  if (GetParam()) {
    EXPECT_GE(server.net().stats().udp_batches, 1u);
    EXPECT_LE(server.net().stats().udp_batches, 10u);
  } else {
    EXPECT_EQ(server.net().stats().udp_batches, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(BatchedAndNot, DnsUdpBurst, ::testing::Bool());

// The agent forwards a query to a recursor from the DNS socket, and the recursor's answer
// arrives as a kDns frame from the recursor.
TEST(DnsUdp, ForwardedQueryLeavesFromTheDnsSocketAndItsAnswerComesBack) {
  Loop loop;
  Server server(loop);
  Endpoint dns = server.listen(Channel::kDns);
  UdpClient recursor;
  server.send(recursor.local(), Channel::kDns, message("forwarded"));
  std::optional<std::pair<std::uint16_t, std::string>> got;
  ASSERT_TRUE(loop.run_until([&] { return (got = recursor.receive()).has_value(); }));
  EXPECT_EQ(got->first, dns.port);
  recursor.send_to(dns, message("recursor-answer"));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 1; }));
  EXPECT_EQ(server.frames[0].from, recursor.local());
  EXPECT_EQ(server.frames[0].channel, Channel::kDns);
}

TEST(DnsListen, AnAddressInUseIsAClearError) {
  Loop loop;
  Server server(loop);
  UdpClient taken_udp;
  auto udp = server.net().listen(Channel::kDns, taken_udp.local());
  ASSERT_FALSE(udp.has_value());
  EXPECT_NE(udp.error().message.find("cannot bind dns on " + taken_udp.local().to_string()),
            std::string::npos)
      << udp.error().message;
  EXPECT_NE(udp.error().message.find("address already in use"), std::string::npos)
      << udp.error().message;

  Endpoint first = server.listen(Channel::kDnsStream);
  Server other(loop);
  auto tcp = other.net().listen(Channel::kDnsStream, first);
  ASSERT_FALSE(tcp.has_value());
  EXPECT_NE(tcp.error().message.find("cannot listen for dns-stream on " + first.to_string()),
            std::string::npos)
      << tcp.error().message;
}

// --- TCP --------------------------------------------------------------------------------------

TEST(DnsTcp, PipelinedQueriesArriveAndTheirAnswersReturnInOrderWithPrefixes) {
  Loop loop;
  Server server(loop, dns_options());
  Endpoint dns = server.listen(Channel::kDnsStream);
  TcpClient client(dns);
  // Both queries in one write, the second split from its prefix in the next.
  std::string both = prefixed(message("q1")) + prefixed(message("q2-longer"));
  ASSERT_TRUE(client.write_all(loop, both.substr(0, both.size() - 3)));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 1; }));
  ASSERT_TRUE(client.write_all(loop, both.substr(both.size() - 3)));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 2; }));
  EXPECT_EQ(server.frames[0].payload, message("q1"));
  EXPECT_EQ(server.frames[1].payload, message("q2-longer"));
  EXPECT_EQ(server.frames[0].channel, Channel::kDnsStream);
  EXPECT_EQ(server.frames[0].from, client.local());
  EXPECT_EQ(server.frames[1].from, client.local());

  server.send(server.frames[0].from, Channel::kDnsStream, message("a1"));
  server.send(server.frames[1].from, Channel::kDnsStream, message("a2-longer"));
  const std::string expected = prefixed(message("a1")) + prefixed(message("a2-longer"));
  ASSERT_TRUE(loop.run_until([&] {
    client.poll();
    return client.received.size() >= expected.size() || client.eof;
  }));
  EXPECT_EQ(client.received, expected);
  EXPECT_EQ(server.net().stats().connect_attempts, 0u);  // answers rode the client's connection
  EXPECT_EQ(server.connections(), 1u);
}

TEST(DnsTcp, ALengthPrefixOfZeroClosesTheConnection) {
  Loop loop;
  Server server(loop, dns_options());
  Endpoint dns = server.listen(Channel::kDnsStream);
  TcpClient client(dns);
  ASSERT_TRUE(client.write_all(loop, std::string("\0\0", 2)));
  ASSERT_TRUE(loop.run_until([&] {
    client.poll();
    return client.eof;
  }));
  EXPECT_TRUE(server.frames.empty());
  EXPECT_EQ(server.net().stats().dns_bad_frames, 1u);
  ASSERT_TRUE(loop.run_until([&] { return server.connections() == 0; }));
}

TEST(DnsTcp, APartialMessageThenCloseDeliversNothing) {
  Loop loop;
  Server server(loop, dns_options());
  Endpoint dns = server.listen(Channel::kDnsStream);
  {
    TcpClient client(dns);
    ASSERT_TRUE(client.write_all(loop, std::string("\x00\x40", 2) + "only-ten-b"));
    ASSERT_TRUE(loop.run_until([&] { return server.connections() == 1; }));
  }
  ASSERT_TRUE(loop.run_until([&] { return server.connections() == 0; }));
  EXPECT_TRUE(server.frames.empty());
  EXPECT_EQ(server.net().stats().dns_bad_frames, 0u);
}

// A maximal message (65,535 bytes) is delivered whole; a short one after it closes the
// connection; the server keeps serving new connections.
TEST(DnsTcp, AMaximalMessageArrivesAndAShortOneAfterItClosesTheConnection) {
  Loop loop;
  Server server(loop, dns_options());
  Endpoint dns = server.listen(Channel::kDnsStream);
  TcpClient client(dns);
  std::string big(limits::kDnsTcpMaxBytes, 'x');
  ASSERT_TRUE(client.write_all(loop, prefixed(big) + std::string("\x00\x05", 2) + "12345"));
  ASSERT_TRUE(loop.run_until([&] {
    client.poll();
    return client.eof;
  }));
  ASSERT_EQ(server.frames.size(), 1u);
  EXPECT_EQ(server.frames[0].payload.size(), limits::kDnsTcpMaxBytes);
  EXPECT_EQ(server.net().stats().dns_bad_frames, 1u);

  TcpClient next(dns);
  ASSERT_TRUE(next.write_all(loop, prefixed(message("after"))));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 2; }));
  EXPECT_EQ(server.frames[1].payload, message("after"));
}

// Random bytes (seeded): whatever they frame is delivered or refused, never a crash, and the
// connection's buffer never holds more than one message beyond a read.
TEST(DnsTcp, GarbageStreamsNeverCrashTheServer) {
  Loop loop;
  Server server(loop, dns_options());
  Endpoint dns = server.listen(Channel::kDnsStream);
  Rng rng(13);
  for (int round = 0; round < 20; ++round) {
    std::string garbage(static_cast<std::size_t>(rng.between(1, 200'000)), '\0');
    for (auto& ch : garbage) ch = static_cast<char>(rng.next_u64() & 0xff);
    TcpClient client(dns);
    client.write_all(loop, garbage);  // may fail: the server may close first
    client.close();
  }
  ASSERT_TRUE(loop.run_until([&] { return server.connections() == 0; }));
  for (const auto& f : server.frames) {
    EXPECT_GE(f.payload.size(), kDnsHeaderBytes);
    EXPECT_LE(f.payload.size(), limits::kDnsTcpMaxBytes);
  }
}

TEST(DnsTcp, AnIdleConnectionIsClosed) {
  Loop loop;
  Server server(loop, dns_options());
  Endpoint dns = server.listen(Channel::kDnsStream);
  TcpClient idle(dns);
  TcpClient trickling(dns);
  ASSERT_TRUE(loop.run_until([&] { return server.connections() == 2; }));
  ASSERT_TRUE(trickling.write_all(loop, std::string("\x00\x20", 2) + "part"));
  loop.advance(Duration::milliseconds(150));
  ASSERT_TRUE(trickling.write_all(loop, "more"));  // bytes, but no whole message
  loop.advance(Duration::milliseconds(100));
  ASSERT_TRUE(loop.run_until([&] {
    idle.poll();
    trickling.poll();
    return idle.eof && trickling.eof;
  }));
  EXPECT_EQ(server.net().stats().closed_idle, 2u);
  EXPECT_EQ(server.connections(), 0u);
}

TEST(DnsTcp, AConnectionBeyondTheLimitIsClosedAtOnce) {
  Loop loop;
  NetworkOptions options = dns_options();
  options.dns_tcp_connections_max = 2;
  Server server(loop, options);
  Endpoint dns = server.listen(Channel::kDnsStream);
  TcpClient first(dns);
  TcpClient second(dns);
  ASSERT_TRUE(loop.run_until([&] { return server.connections() == 2; }));
  TcpClient third(dns);
  ASSERT_TRUE(loop.run_until([&] {
    third.poll();
    return third.eof;
  }));
  EXPECT_EQ(server.net().stats().dns_tcp_over_cap, 1u);
  EXPECT_EQ(server.net().dns_refusals().refused_total(), 1u);
  // The two admitted still work; once one closes, a new connection is taken.
  ASSERT_TRUE(second.write_all(loop, prefixed(message("still-served"))));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 1; }));
  first.close();
  ASSERT_TRUE(loop.run_until([&] { return server.connections() == 1; }));
  TcpClient fourth(dns);
  ASSERT_TRUE(fourth.write_all(loop, prefixed(message("fourth"))));
  ASSERT_TRUE(loop.run_until([&] { return server.frames.size() == 2; }));
  EXPECT_EQ(server.frames[1].payload, message("fourth"));
}

// --- DnsTcpDecoder ----------------------------------------------------------------------------

TEST(DnsTcpDecoder, MessagesFedOneByteAtATimeComeOutWhole) {
  DnsTcpDecoder decoder;
  std::string stream = prefixed(message("one")) + prefixed(message("two"));
  std::vector<std::string> out;
  for (char ch : stream) {
    auto byte = static_cast<std::uint8_t>(ch);
    decoder.feed(ByteView(&byte, 1));
    while (true) {
      auto next = decoder.next();
      ASSERT_TRUE(next.has_value());
      if (!next->has_value()) break;
      out.emplace_back((*next)->begin(), (*next)->end());
    }
  }
  EXPECT_EQ(out, (std::vector<std::string>{message("one"), message("two")}));
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(DnsTcpDecoder, AMessageShorterThanAHeaderFailsForGood) {
  DnsTcpDecoder decoder;
  const std::uint8_t bytes[] = {0x00, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  decoder.feed(ByteView(bytes, sizeof bytes));
  auto next = decoder.next();
  ASSERT_FALSE(next.has_value());
  EXPECT_NE(next.error().message.find("shorter than a header"), std::string::npos);
  std::string good = prefixed(message("late"));
  decoder.feed(ByteView(reinterpret_cast<const std::uint8_t*>(good.data()), good.size()));
  EXPECT_FALSE(decoder.next().has_value());
}

}  // namespace
}  // namespace praetor::io
