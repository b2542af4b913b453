// UvNetwork's TCP side, driven on a libuv loop in the test thread with a manual clock: gossip
// stream round trips and replies over the arriving connection, RPC and streams kept apart, bad
// frames, the stream connection cap, idle and connect timeouts, queue bounds, and reconnect
// backoff. Every wait runs the loop until a condition holds (or 20 s pass, which fails the test).
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/rpc_frame.hpp"
#include "io/uv_network.hpp"
#include "tests/io/test_util.hpp"

namespace praetor::io {
namespace {

using node::Channel;
using node::Endpoint;
using testing::Client;

struct Frame {
  Endpoint from;
  Channel channel;
  std::string payload;
};

// Records every log line; counts warnings that contain a phrase.
class RecordingLogger final : public Logger {
 public:
  void log(LogLevel level, std::string_view, std::string_view message) override {
    lines_.emplace_back(level, std::string(message));
  }
  bool enabled(LogLevel) const override { return true; }
  std::vector<std::string> warnings() const {
    std::vector<std::string> out;
    for (const auto& [level, text] : lines_) {
      if (level == LogLevel::kWarn) out.push_back(text);
    }
    return out;
  }
  int warnings_containing(std::string_view phrase) const {
    int n = 0;
    for (const auto& [level, text] : lines_) {
      if (level == LogLevel::kWarn && text.find(phrase) != std::string::npos) ++n;
    }
    return n;
  }

 private:
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

// One loop and one manual clock shared by every network in a test. A 5 ms ticker keeps
// UV_RUN_ONCE from blocking, so run_until re-checks its condition often.
class Loop {
 public:
  Loop() {
    EXPECT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &ticker_);
    uv_timer_start(&ticker_, tick, 5, 5);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker_), nullptr);
    while (uv_run(&loop_, UV_RUN_DEFAULT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done` holds; false if it still does not after 20 s (a guard against a
  // hang on a loaded machine, not a timing assumption).
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
  static void tick(uv_timer_t*) {}

  uv_loop_t loop_{};
  uv_timer_t ticker_{};
  Instant now_ = Instant::from_ns(1'000'000'000);
};

// A UvNetwork on the shared loop that records the frames it receives.
class Peer {
 public:
  explicit Peer(Loop& loop, NetworkOptions options = {})
      : loop_(loop),
        net_(
            loop.get(), logger_,
            [this](const Endpoint& from, Channel channel, Bytes payload) {
              frames.push_back(Frame{from, channel, std::string(payload.begin(), payload.end())});
            },
            with_clock(loop, std::move(options))) {}
  ~Peer() {
    net_.close();
    EXPECT_TRUE(loop_.run_until([this] { return net_.closed(); }));
  }

  Endpoint listen(Channel channel) {
    auto bound = net_.listen(channel, Endpoint{"127.0.0.1", 0});
    EXPECT_TRUE(bound.has_value()) << (bound ? "" : bound.error().message);
    return bound ? *bound : Endpoint{};
  }
  void send(const Endpoint& to, Channel channel, std::string_view text) {
    net_.send(to, channel, to_bytes(text));
  }
  UvNetwork& net() { return net_; }
  const NetworkStats& stats() const { return net_.stats(); }
  std::size_t connections(Channel channel) const { return net_.connection_count(channel); }
  const RecordingLogger& logger() const { return logger_; }

  std::vector<Frame> frames;

 private:
  static NetworkOptions with_clock(Loop& loop, NetworkOptions options) {
    options.clock = [&loop] { return loop.now(); };
    return options;
  }

  Loop& loop_;
  RecordingLogger logger_;
  UvNetwork net_;
};

std::string frame_bytes(std::string_view payload) {
  Bytes frame = encode_rpc_frame(to_bytes(payload));
  return std::string(frame.begin(), frame.end());
}

// A TCP port on 127.0.0.1 that is bound but not listening, so connecting to it is refused (and
// no other process can take it meanwhile). listen() turns it into a listener.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t length = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &length);
    port_ = ntohs(a.sin_port);
  }
  ~ClosedPort() { close(); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;

  Endpoint endpoint() const { return Endpoint{"127.0.0.1", port_}; }
  int fd() const { return fd_; }
  void listen(int backlog) { ASSERT_EQ(::listen(fd_, backlog), 0); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

std::size_t count_payload(const std::vector<Frame>& frames, std::string_view payload) {
  return static_cast<std::size_t>(std::count_if(
      frames.begin(), frames.end(), [&](const Frame& f) { return f.payload == payload; }));
}

// `large_bytes`: the third frame's size (several TCP reads' worth, up to the largest frame).
void round_trip_on(Channel channel, std::size_t large_bytes) {
  SCOPED_TRACE(node::channel_name(channel));
  Loop loop;
  Peer b(loop);
  Endpoint b_stream = b.listen(channel);
  Peer a(loop);  // no listener at all: b's reply can only come back over a's own connection

  std::string large(large_bytes, '\0');
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>('a' + i % 26);
  a.send(b_stream, channel, "push-1");
  a.send(b_stream, channel, "push-2");
  a.send(b_stream, channel, large);
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 3; }));
  EXPECT_EQ(b.frames[0].payload, "push-1");  // in order
  EXPECT_EQ(b.frames[1].payload, "push-2");
  EXPECT_TRUE(b.frames[2].payload == large);
  for (const auto& f : b.frames) {
    EXPECT_EQ(f.channel, channel);
    EXPECT_EQ(f.from, b.frames[0].from);  // one connection
  }
  Endpoint a_from = b.frames[0].from;
  EXPECT_EQ(a_from.host, "127.0.0.1");
  EXPECT_NE(a_from.port, b_stream.port);

  b.send(a_from, channel, "pull");
  ASSERT_TRUE(loop.run_until([&] { return a.frames.size() == 1; }));
  EXPECT_EQ(a.frames[0].payload, "pull");
  EXPECT_EQ(a.frames[0].channel, channel);
  EXPECT_EQ(a.frames[0].from, b_stream);
  EXPECT_EQ(b.stats().connect_attempts, 0u);  // the reply rode the arriving connection
  EXPECT_EQ(a.stats().connect_attempts, 1u);
  EXPECT_EQ(a.connections(channel), 1u);
  EXPECT_EQ(b.connections(channel), 1u);
  EXPECT_EQ(a.connections(Channel::kRpc), 0u);
}

TEST(UvNetworkStreams, LanStreamRoundTripRepliesOverTheArrivingConnection) {
  round_trip_on(Channel::kGossipLanStream, limits::kRpcMaxFrameBytes);
}

TEST(UvNetworkStreams, WanStreamRoundTripRepliesOverTheArrivingConnection) {
  round_trip_on(Channel::kGossipWanStream, 300 * 1024 + 7);
}

TEST(UvNetworkStreams, RpcAndStreamFramesToOneHostUseSeparateConnections) {
  Loop loop;
  Peer b(loop);
  Endpoint b_rpc = b.listen(Channel::kRpc);
  Endpoint b_stream = b.listen(Channel::kGossipLanStream);
  Peer a(loop);

  a.send(b_rpc, Channel::kRpc, "rpc-ping");
  a.send(b_stream, Channel::kGossipLanStream, "stream-ping");
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 2; }));
  Frame rpc = b.frames[0].channel == Channel::kRpc ? b.frames[0] : b.frames[1];
  Frame stream = b.frames[0].channel == Channel::kRpc ? b.frames[1] : b.frames[0];
  EXPECT_EQ(rpc.channel, Channel::kRpc);
  EXPECT_EQ(rpc.payload, "rpc-ping");
  EXPECT_EQ(stream.channel, Channel::kGossipLanStream);
  EXPECT_EQ(stream.payload, "stream-ping");
  EXPECT_NE(rpc.from, stream.from);

  b.send(rpc.from, Channel::kRpc, "rpc-pong");
  b.send(stream.from, Channel::kGossipLanStream, "stream-pong");
  ASSERT_TRUE(loop.run_until([&] { return a.frames.size() == 2; }));
  for (const auto& f : a.frames) {
    if (f.channel == Channel::kRpc) {
      EXPECT_EQ(f.payload, "rpc-pong");
      EXPECT_EQ(f.from, b_rpc);
    } else {
      EXPECT_EQ(f.channel, Channel::kGossipLanStream);
      EXPECT_EQ(f.payload, "stream-pong");
      EXPECT_EQ(f.from, b_stream);
    }
  }
  EXPECT_EQ(a.connections(Channel::kRpc), 1u);
  EXPECT_EQ(a.connections(Channel::kGossipLanStream), 1u);
  EXPECT_EQ(b.connections(Channel::kRpc), 1u);
  EXPECT_EQ(b.connections(Channel::kGossipLanStream), 1u);
  EXPECT_EQ(b.stats().connect_attempts, 0u);

  // An RPC frame to the stream connection's `from` does not ride the stream connection: it needs
  // an RPC connection of its own, and nothing listens on a's ephemeral port.
  b.send(stream.from, Channel::kRpc, "misdirected");
  b.send(stream.from, Channel::kGossipLanStream, "marker");
  EXPECT_EQ(b.stats().connect_attempts, 1u);
  ASSERT_TRUE(loop.run_until([&] { return b.stats().connect_failures == 1; }));
  ASSERT_TRUE(loop.run_until([&] { return count_payload(a.frames, "marker") == 1; }));
  // The stream is ordered: had "misdirected" gone over it, it would have arrived before "marker".
  EXPECT_EQ(count_payload(a.frames, "misdirected"), 0u);
  EXPECT_EQ(b.connections(Channel::kGossipLanStream), 1u);
}

TEST(UvNetworkStreams, BadOrOversizedFramesCloseTheStreamConnection) {
  Loop loop;
  Peer b(loop);
  Endpoint b_stream = b.listen(Channel::kGossipLanStream);

  Client corrupt(b_stream.port);
  ASSERT_TRUE(corrupt.connected());
  std::string evil = frame_bytes("evil");
  evil.back() = static_cast<char>(evil.back() ^ 0x55);
  corrupt.send(frame_bytes("good") + evil);
  ASSERT_TRUE(loop.run_until([&] { return b.stats().bad_frames == 1; }));
  ASSERT_EQ(b.frames.size(), 1u);
  EXPECT_EQ(b.frames[0].payload, "good");
  EXPECT_EQ(b.frames[0].channel, Channel::kGossipLanStream);
  EXPECT_EQ(b.connections(Channel::kGossipLanStream), 0u);
  EXPECT_TRUE(corrupt.closed_by_peer());

  Client oversized(b_stream.port);
  ASSERT_TRUE(oversized.connected());
  Bytes header;
  put_u32_le(header, static_cast<std::uint32_t>(limits::kRpcMaxFrameBytes + 1));
  put_u32_le(header, 0);
  oversized.send(std::string(header.begin(), header.end()));
  ASSERT_TRUE(loop.run_until([&] { return b.stats().bad_frames == 2; }));
  EXPECT_TRUE(oversized.closed_by_peer());
  EXPECT_EQ(b.frames.size(), 1u);
  EXPECT_EQ(b.logger().warnings_containing("bad gossip-lan-stream frame"), 2);

  // The listener is unaffected.
  Peer a(loop);
  a.send(b_stream, Channel::kGossipLanStream, "after");
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 2; }));
  EXPECT_EQ(b.frames[1].payload, "after");
}

TEST(UvNetworkStreams, StreamConnectionsAreCapped) {
  Loop loop;
  NetworkOptions options;
  options.stream_connections_max = 2;
  Peer b(loop, options);
  Endpoint b_stream = b.listen(Channel::kGossipLanStream);
  Peer a(loop);
  Endpoint a_rpc = a.listen(Channel::kRpc);
  Endpoint a_stream = a.listen(Channel::kGossipLanStream);

  Client first(b_stream.port);
  Client second(b_stream.port);
  Client third(b_stream.port);
  ASSERT_TRUE(loop.run_until([&] { return b.stats().stream_over_cap == 1; }));
  EXPECT_EQ(b.connections(Channel::kGossipLanStream), 2u);
  EXPECT_TRUE(third.closed_by_peer());  // accepted in order; the third is over the cap
  first.send(frame_bytes("one"));
  second.send(frame_bytes("two"));
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 2; }));

  // Outbound stream connections count against the same cap; RPC connections do not.
  b.send(a_stream, Channel::kGossipLanStream, "over");
  EXPECT_EQ(b.stats().stream_over_cap, 2u);
  EXPECT_EQ(b.stats().connect_attempts, 0u);
  b.send(a_rpc, Channel::kRpc, "rpc is not capped");
  ASSERT_TRUE(loop.run_until([&] { return a.frames.size() == 1; }));
  EXPECT_EQ(a.frames[0].payload, "rpc is not capped");
  EXPECT_EQ(b.logger().warnings_containing("stream connections are open"), 1);  // warned once

  // The cap is on open connections: once one closes, a new one is accepted.
  first.close();
  ASSERT_TRUE(loop.run_until([&] { return b.connections(Channel::kGossipLanStream) == 1; }));
  b.send(a_stream, Channel::kGossipLanStream, "room again");
  ASSERT_TRUE(loop.run_until([&] { return a.frames.size() == 2; }));
  EXPECT_EQ(a.frames[1].payload, "room again");
  EXPECT_EQ(a.frames[1].channel, Channel::kGossipLanStream);
  EXPECT_EQ(b.stats().stream_over_cap, 2u);
}

TEST(UvNetworkStreams, IdleStreamConnectionsCloseAndRpcConnectionsStay) {
  Loop loop;
  NetworkOptions options;
  options.stream_idle_timeout = Duration::milliseconds(200);  // sweeps every 50 ms of real time
  Peer b(loop, options);
  Endpoint b_rpc = b.listen(Channel::kRpc);
  Endpoint b_stream = b.listen(Channel::kGossipLanStream);
  Peer a(loop, options);

  a.send(b_stream, Channel::kGossipLanStream, "x");
  a.send(b_rpc, Channel::kRpc, "y");
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 2; }));
  auto two_more_sweeps = [&] {
    std::uint64_t a0 = a.stats().sweeps;
    std::uint64_t b0 = b.stats().sweeps;
    return loop.run_until([&] { return a.stats().sweeps >= a0 + 2 && b.stats().sweeps >= b0 + 2; });
  };

  // The manual clock has not moved: sweeps close nothing.
  ASSERT_TRUE(two_more_sweeps());
  EXPECT_EQ(a.connections(Channel::kGossipLanStream), 1u);
  EXPECT_EQ(b.connections(Channel::kGossipLanStream), 1u);

  // A frame halfway through the timeout keeps the connection (on both ends) for another one.
  loop.advance(Duration::milliseconds(150));
  a.send(b_stream, Channel::kGossipLanStream, "z");
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 3; }));
  loop.advance(Duration::milliseconds(150));
  ASSERT_TRUE(two_more_sweeps());
  EXPECT_EQ(a.connections(Channel::kGossipLanStream), 1u);
  EXPECT_EQ(b.connections(Channel::kGossipLanStream), 1u);

  loop.advance(Duration::milliseconds(50));
  ASSERT_TRUE(loop.run_until([&] {
    return a.connections(Channel::kGossipLanStream) == 0 &&
           b.connections(Channel::kGossipLanStream) == 0;
  }));
  // One end may see the other's close before its own sweep does.
  EXPECT_GE(a.stats().closed_idle + b.stats().closed_idle, 1u);
  EXPECT_EQ(a.connections(Channel::kRpc), 1u);
  EXPECT_EQ(b.connections(Channel::kRpc), 1u);

  // An idle close is not a failure: the next send connects at once.
  a.send(b_stream, Channel::kGossipLanStream, "again");
  EXPECT_EQ(a.stats().connect_attempts, 3u);
  EXPECT_EQ(a.stats().dropped_in_backoff, 0u);
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 4; }));
  EXPECT_EQ(b.frames[3].payload, "again");
}

TEST(UvNetworkStreams, ATricklingPeerDoesNotKeepAStreamConnectionOpen) {
  Loop loop;
  NetworkOptions options;
  options.stream_idle_timeout = Duration::milliseconds(200);
  Peer b(loop, options);
  Endpoint b_stream = b.listen(Channel::kGossipLanStream);

  std::string frame = frame_bytes("never finished");
  Client slow(b_stream.port);
  slow.send(frame.substr(0, 10));
  ASSERT_TRUE(loop.run_until([&] { return b.connections(Channel::kGossipLanStream) == 1; }));
  loop.advance(Duration::milliseconds(150));
  slow.send(frame.substr(10, 4));  // bytes, but not a whole frame
  std::uint64_t sweeps = b.stats().sweeps;
  ASSERT_TRUE(loop.run_until([&] { return b.stats().sweeps >= sweeps + 2; }));
  EXPECT_EQ(b.connections(Channel::kGossipLanStream), 1u);
  loop.advance(Duration::milliseconds(50));
  ASSERT_TRUE(loop.run_until([&] { return b.connections(Channel::kGossipLanStream) == 0; }));
  EXPECT_EQ(b.stats().closed_idle, 1u);
  EXPECT_TRUE(b.frames.empty());
  EXPECT_TRUE(slow.closed_by_peer());
}

TEST(UvNetworkStreams, AReplyToAClosedInboundConnectionIsDropped) {
  Loop loop;
  Peer b(loop);
  Endpoint b_stream = b.listen(Channel::kGossipLanStream);
  {
    Client once(b_stream.port);
    once.send(frame_bytes("push"));
  }
  ASSERT_TRUE(loop.run_until(
      [&] { return b.frames.size() == 1 && b.connections(Channel::kGossipLanStream) == 0; }));
  // Nothing listens on the sender's ephemeral port: no connect is tried, nothing backs off.
  b.send(b.frames[0].from, Channel::kGossipLanStream, "late reply");
  EXPECT_EQ(b.stats().connect_attempts, 0u);
  EXPECT_EQ(b.stats().dropped_closed_inbound, 1u);
  EXPECT_EQ(b.stats().dropped_in_backoff, 0u);
}

TEST(UvNetworkStreams, QueuedBytesPerConnectionAreBounded) {
  Loop loop;
  Peer a(loop);  // default bound: two of the largest frames
  ClosedPort port;

  // All three wait for the connect (which will be refused): the third does not fit.
  std::string large(limits::kRpcMaxFrameBytes, 'q');
  for (int i = 0; i < 3; ++i) a.send(port.endpoint(), Channel::kGossipWanStream, large);
  EXPECT_EQ(a.stats().dropped_queue_full, 1u);
  a.send(port.endpoint(), Channel::kRpc, large);  // another connection, another queue
  EXPECT_EQ(a.stats().dropped_queue_full, 1u);
  ASSERT_TRUE(loop.run_until([&] { return a.stats().connect_failures == 2; }));
  EXPECT_EQ(a.logger().warnings_containing("dropping 2 queued frames"), 1);
  EXPECT_EQ(a.logger().warnings_containing("dropping 1 queued frames"), 1);
}

TEST(UvNetworkBackoff, ConnectsToAFailedPeerOnlyAfterABackoffThatDoublesAndResets) {
  Loop loop;
  NetworkOptions options;
  options.reconnect_backoff_min = Duration::milliseconds(100);
  options.reconnect_backoff_max = Duration::milliseconds(400);
  Peer a(loop, options);
  ClosedPort port;
  Endpoint peer = port.endpoint();
  auto ms = [](std::int64_t n) { return Duration::milliseconds(n); };

  // Frames sent while the first connect is under way wait for it: one attempt.
  for (int i = 0; i < 10; ++i) a.send(peer, Channel::kRpc, "early");
  EXPECT_EQ(a.stats().connect_attempts, 1u);
  ASSERT_TRUE(loop.run_until([&] { return a.stats().connect_failures == 1; }));
  for (int i = 0; i < 10; ++i) a.send(peer, Channel::kRpc, "in backoff");
  EXPECT_EQ(a.stats().connect_attempts, 1u);
  EXPECT_EQ(a.stats().dropped_in_backoff, 10u);

  // Each delay d is jittered within [d/2, d]: before d/2 nothing is tried, after d a send is.
  std::uint64_t attempts = 1;
  for (std::int64_t delay : {100, 200, 400, 400}) {
    SCOPED_TRACE(delay);
    loop.advance(ms(delay / 2 - 1));
    std::uint64_t dropped = a.stats().dropped_in_backoff;
    a.send(peer, Channel::kRpc, "too soon");
    EXPECT_EQ(a.stats().connect_attempts, attempts);
    EXPECT_EQ(a.stats().dropped_in_backoff, dropped + 1);
    loop.advance(ms(delay / 2 + 1));
    a.send(peer, Channel::kRpc, "retry");
    EXPECT_EQ(a.stats().connect_attempts, ++attempts);
    ASSERT_TRUE(loop.run_until([&] { return a.stats().connect_failures == attempts; }));
  }
  EXPECT_EQ(a.logger().warnings_containing("connect to"), 1);  // warned once while unreachable

  // The peer comes up: the connect after the backoff succeeds and the queued frame arrives.
  port.listen(1);
  loop.advance(ms(400));
  a.send(peer, Channel::kRpc, "hello");
  EXPECT_EQ(a.stats().connect_attempts, ++attempts);
  int accepted = ::accept(port.fd(), nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  ::fcntl(accepted, F_SETFL, O_NONBLOCK);
  std::string received;
  ASSERT_TRUE(loop.run_until([&] {
    char chunk[256];
    ssize_t n = ::recv(accepted, chunk, sizeof chunk, 0);
    if (n > 0) received.append(chunk, static_cast<std::size_t>(n));
    return received.size() >= frame_bytes("hello").size();
  }));
  EXPECT_EQ(received, frame_bytes("hello"));

  // It breaks (a reset, and nothing listens any more): the backoff starts again from the minimum.
  port.close();
  linger hard{1, 0};
  ::setsockopt(accepted, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(accepted);
  ASSERT_TRUE(loop.run_until([&] { return a.connections(Channel::kRpc) == 0; }));
  loop.advance(ms(49));
  a.send(peer, Channel::kRpc, "too soon");
  EXPECT_EQ(a.stats().connect_attempts, attempts);
  loop.advance(ms(51));
  a.send(peer, Channel::kRpc, "retry");
  EXPECT_EQ(a.stats().connect_attempts, ++attempts);
  ASSERT_TRUE(loop.run_until([&] { return a.stats().connect_failures == 6; }));
  EXPECT_EQ(a.logger().warnings_containing("connect to"), 2);  // reachable in between
}

TEST(UvNetworkBackoff, AConnectThatHangsTimesOutAndBacksOff) {
  Loop loop;
  NetworkOptions options;
  options.connect_timeout = Duration::milliseconds(200);
  Peer a(loop, options);
  // A listener that never accepts, with its accept queue full (Linux queues backlog + 1, so two
  // connections for a backlog of 1): the kernel drops further handshakes, so a connect to it
  // neither completes nor fails.
  ClosedPort port;
  port.listen(1);
  Client filler_1(port.endpoint().port);
  Client filler_2(port.endpoint().port);
  ASSERT_TRUE(filler_1.connected());
  ASSERT_TRUE(filler_2.connected());

  a.send(port.endpoint(), Channel::kGossipLanStream, "push");
  EXPECT_EQ(a.stats().connect_attempts, 1u);
  std::uint64_t sweeps = a.stats().sweeps;
  ASSERT_TRUE(loop.run_until([&] { return a.stats().sweeps >= sweeps + 2; }));
  EXPECT_EQ(a.stats().connect_failures, 0u);  // the manual clock has not moved
  loop.advance(Duration::milliseconds(200));
  ASSERT_TRUE(loop.run_until([&] { return a.stats().connect_failures == 1; }));
  EXPECT_EQ(a.connections(Channel::kGossipLanStream), 0u);
  a.send(port.endpoint(), Channel::kGossipLanStream, "push");
  EXPECT_EQ(a.stats().dropped_in_backoff, 1u);
  EXPECT_EQ(a.stats().connect_attempts, 1u);
}

// --- inbound caps and timeouts against hostile peers (issue 10, item 2) ----------------------

TEST(UvNetworkInbound, RpcConnectionsFromOneIpAreCappedWhileOtherIpsAreServed) {
  Loop loop;
  NetworkOptions options;
  options.rpc_inbound_per_client_max = 2;
  Peer b(loop, options);
  Endpoint b_rpc = b.listen(Channel::kRpc);

  Client first(b_rpc.port, "127.0.0.24");
  Client second(b_rpc.port, "127.0.0.24");
  Client third(b_rpc.port, "127.0.0.24");
  ASSERT_TRUE(loop.run_until([&] { return b.stats().per_client_over_cap == 1; }));
  EXPECT_EQ(b.connections(Channel::kRpc), 2u);
  EXPECT_TRUE(third.closed_by_peer());  // accepted in order; the third is over the cap

  Client other_ip(b_rpc.port, "127.0.0.25");
  other_ip.send(frame_bytes("from .25"));
  first.send(frame_bytes("from .24"));
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 2; }));
  EXPECT_EQ(count_payload(b.frames, "from .25"), 1u);
  EXPECT_EQ(count_payload(b.frames, "from .24"), 1u);
  EXPECT_EQ(b.logger().warnings_containing("refusing rpc connection from 127.0.0.24:"), 1);
  EXPECT_EQ(b.logger().warnings_containing("limits.rpc_max_conns_per_client 2"), 1);

  // Room again once one closes.
  second.close();
  ASSERT_TRUE(loop.run_until([&] { return b.connections(Channel::kRpc) == 2; }));
  Client fourth(b_rpc.port, "127.0.0.24");
  fourth.send(frame_bytes("fourth"));
  ASSERT_TRUE(loop.run_until([&] { return count_payload(b.frames, "fourth") == 1; }));
  EXPECT_EQ(b.stats().per_client_over_cap, 1u);
}

TEST(UvNetworkInbound, RpcConnectionsAreCappedInAll) {
  Loop loop;
  NetworkOptions options;
  options.rpc_inbound_max = 2;
  Peer b(loop, options);
  Endpoint b_rpc = b.listen(Channel::kRpc);
  Client one(b_rpc.port, "127.0.0.24");
  Client two(b_rpc.port, "127.0.0.25");
  Client three(b_rpc.port, "127.0.0.26");
  ASSERT_TRUE(loop.run_until([&] { return b.stats().rpc_over_cap == 1; }));
  EXPECT_TRUE(three.closed_by_peer());
  EXPECT_EQ(b.connections(Channel::kRpc), 2u);
  EXPECT_EQ(b.stats().per_client_over_cap, 0u);
  EXPECT_EQ(b.logger().warnings_containing("2 inbound connections open (limit 2)"), 1);
}

TEST(UvNetworkInbound, StreamConnectionsFromOneIpAreCapped) {
  Loop loop;
  NetworkOptions options;
  options.stream_inbound_per_client_max = 1;
  Peer b(loop, options);
  Endpoint b_stream = b.listen(Channel::kGossipWanStream);
  Client first(b_stream.port, "127.0.0.27");
  Client second(b_stream.port, "127.0.0.27");
  ASSERT_TRUE(loop.run_until([&] { return b.stats().per_client_over_cap == 1; }));
  EXPECT_TRUE(second.closed_by_peer());
  Client other_ip(b_stream.port, "127.0.0.28");
  other_ip.send(frame_bytes("push"));
  ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == 1; }));
  EXPECT_EQ(b.connections(Channel::kGossipWanStream), 2u);
  EXPECT_EQ(b.logger().warnings_containing("refusing gossip-wan-stream connection from 127.0.0.27"),
            1);
}

TEST(UvNetworkInbound, ARefusalFloodLogsTwoLinesThatCountEveryRefusal) {
  Loop loop;
  NetworkOptions options;
  options.rpc_inbound_per_client_max = 1;
  Peer b(loop, options);
  Endpoint b_rpc = b.listen(Channel::kRpc);
  Client holder(b_rpc.port, "127.0.0.29");
  constexpr std::uint64_t kFlood = 300;
  for (std::uint64_t i = 0; i < kFlood; ++i) {
    Client refused(b_rpc.port, "127.0.0.29");
    ASSERT_TRUE(loop.run_until([&] { return b.stats().per_client_over_cap == i + 1; }));
  }
  // The manual clock has not moved: one interval. Its count is logged when the network closes.
  b.net().close();
  ASSERT_TRUE(loop.run_until([&] { return b.net().closed(); }));
  std::uint64_t counted = 0;
  int lines = 0;
  for (const auto& text : b.logger().warnings()) {
    if (text.rfind("refusing rpc connection from 127.0.0.29:", 0) == 0) {
      ++lines;
      ++counted;
    } else if (text.rfind("refused ", 0) == 0) {
      ++lines;
      counted += std::stoull(text.substr(8));
      EXPECT_NE(text.find("connections in the last"), std::string::npos) << text;
    }
  }
  EXPECT_EQ(lines, 2);
  EXPECT_EQ(counted, kFlood);
  EXPECT_EQ(b.net().rpc_refusals().refused_total(), kFlood);
}

TEST(UvNetworkInbound, SilentRpcConnectionsCloseAfterTheFirstFrameTimeoutAndRaftLikeOnesStay) {
  Loop loop;
  NetworkOptions options;
  options.rpc_first_frame_timeout = Duration::milliseconds(200);  // sweeps every 50 ms
  options.rpc_idle_timeout = Duration::milliseconds(1000);
  Peer b(loop, options);
  Endpoint b_rpc = b.listen(Channel::kRpc);
  Peer a(loop, options);  // the same short timeouts: its outbound connection must still stay

  Client silent(b_rpc.port, "127.0.0.24");
  a.send(b_rpc, Channel::kRpc, "heartbeat-0");
  ASSERT_TRUE(
      loop.run_until([&] { return b.frames.size() == 1 && b.connections(Channel::kRpc) == 2; }));
  auto two_more_sweeps = [&] {
    std::uint64_t a0 = a.stats().sweeps;
    std::uint64_t b0 = b.stats().sweeps;
    return loop.run_until([&] { return a.stats().sweeps >= a0 + 2 && b.stats().sweeps >= b0 + 2; });
  };
  ASSERT_TRUE(two_more_sweeps());
  EXPECT_EQ(b.connections(Channel::kRpc), 2u);  // the clock has not moved

  // A "leader" heartbeating every 100 ms for 3 s: fifteen first-frame timeouts and three idle
  // timeouts pass; its connection stays, the silent one is closed after the first 200 ms.
  for (int i = 1; i <= 30; ++i) {
    loop.advance(Duration::milliseconds(100));
    a.send(b_rpc, Channel::kRpc, fmt::format("heartbeat-{}", i));
    ASSERT_TRUE(loop.run_until([&] { return b.frames.size() == static_cast<std::size_t>(i + 1); }));
  }
  ASSERT_TRUE(loop.run_until([&] { return b.stats().closed_no_first_frame == 1; }));
  EXPECT_TRUE(silent.closed_by_peer());
  ASSERT_TRUE(two_more_sweeps());
  EXPECT_EQ(b.connections(Channel::kRpc), 1u);
  EXPECT_EQ(a.connections(Channel::kRpc), 1u);
  EXPECT_EQ(a.stats().connect_attempts, 1u);  // never reconnected
  EXPECT_EQ(b.stats().closed_idle, 0u);

  // Silence beyond the idle timeout closes the inbound side (b); a's outbound side is never
  // closed for idleness by a, only by seeing b's close.
  loop.advance(Duration::milliseconds(1000));
  ASSERT_TRUE(loop.run_until([&] { return b.stats().closed_idle == 1; }));
  EXPECT_EQ(a.stats().closed_idle, 0u);
  ASSERT_TRUE(loop.run_until([&] { return a.connections(Channel::kRpc) == 0; }));
  // An idle close is not a failure: the next heartbeat reconnects at once.
  a.send(b_rpc, Channel::kRpc, "after idle");
  EXPECT_EQ(a.stats().connect_attempts, 2u);
  ASSERT_TRUE(loop.run_until([&] { return count_payload(b.frames, "after idle") == 1; }));
}

TEST(UvNetworkInbound, ATricklingRpcPeerIsClosedAtTheFirstFrameTimeout) {
  Loop loop;
  NetworkOptions options;
  options.rpc_first_frame_timeout = Duration::milliseconds(200);
  Peer b(loop, options);
  Endpoint b_rpc = b.listen(Channel::kRpc);
  std::string frame = frame_bytes("never finished");
  Client slow(b_rpc.port);
  slow.send(frame.substr(0, 6));
  ASSERT_TRUE(loop.run_until([&] { return b.connections(Channel::kRpc) == 1; }));
  loop.advance(Duration::milliseconds(150));
  slow.send(frame.substr(6, 4));  // bytes, but no whole frame
  loop.advance(Duration::milliseconds(50));
  ASSERT_TRUE(loop.run_until([&] { return b.stats().closed_no_first_frame == 1; }));
  EXPECT_TRUE(slow.closed_by_peer());
  EXPECT_TRUE(b.frames.empty());
}

}  // namespace
}  // namespace praetor::io
