// Two hosts on loopback: RPC frames over TCP (replies ride the connection they came in on),
// gossip datagrams over UDP, and a corrupt frame that closes its connection.
#include <gtest/gtest.h>

#include <algorithm>

#include "io/rpc_frame.hpp"
#include "io/uv_host.hpp"
#include "tests/io/test_util.hpp"

namespace praetor::io {
namespace {

using testing::Client;
using testing::HostThread;
using testing::Mailbox;

// Records every frame as "<channel>:<payload>"; answers "ping..." with "pong:<payload>" to the
// sender on the same channel.
class FrameProcess : public node::Process {
 public:
  void start(node::Env& env) override {
    env_ = &env;
    if (on_start) on_start(env);
  }
  void on_frame(const node::Endpoint& from, node::Channel channel, Bytes payload) override {
    std::string text = to_string(payload);
    frames.put(fmt::format("{}:{}", node::channel_name(channel), text));
    if (text.rfind("ping", 0) == 0) env_->network.send(from, channel, to_bytes("pong:" + text));
  }
  void on_written(Ticket, Result<void>) override {}
  void on_wake(Instant) override {}
  void on_check_result(CheckRunId, node::ExecResult) override {}
  void on_client_request(RequestId, node::HttpRequest) override {}
  void stop(node::StopReason) override { env_->control.shutdown(0); }

  std::function<void(node::Env&)> on_start;
  Mailbox frames;

 private:
  node::Env* env_ = nullptr;
};

HostOptions net_options() {
  HostOptions o;
  o.listeners = {Listener{node::Channel::kRpc, {"127.0.0.1", 0}},
                 Listener{node::Channel::kGossipLan, {"127.0.0.1", 0}}};
  return o;
}

TEST(UvNetwork, RpcAndGossipRoundTripBetweenTwoHosts) {
  FrameProcess b_process;
  HostThread b(b_process, net_options());
  node::Endpoint b_rpc = b.endpoint(0);
  node::Endpoint b_gossip = b.endpoint(1);

  FrameProcess a_process;
  a_process.on_start = [&](node::Env& env) {
    for (int i = 0; i < 20; ++i) {
      env.network.send(b_rpc, node::Channel::kRpc, to_bytes(fmt::format("ping{}", i)));
    }
    for (int i = 0; i < 10; ++i) {
      env.network.send(b_gossip, node::Channel::kGossipLan, to_bytes(fmt::format("ping-udp{}", i)));
    }
  };
  HostThread a(a_process, net_options());

  auto at_b = b_process.frames.wait_for(30);
  ASSERT_EQ(at_b.size(), 30u);
  std::vector<std::string> rpc_at_b;
  for (const auto& f : at_b) {
    if (f.rfind("rpc:", 0) == 0) rpc_at_b.push_back(f);
  }
  ASSERT_EQ(rpc_at_b.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(rpc_at_b[i], fmt::format("rpc:ping{}", i));  // in order
  for (int i = 0; i < 10; ++i) {
    EXPECT_NE(std::find(at_b.begin(), at_b.end(), fmt::format("gossip-lan:ping-udp{}", i)),
              at_b.end());
  }

  auto at_a = a_process.frames.wait_for(30);
  ASSERT_EQ(at_a.size(), 30u);
  EXPECT_NE(std::find(at_a.begin(), at_a.end(), "rpc:pong:ping0"), at_a.end());
  EXPECT_NE(std::find(at_a.begin(), at_a.end(), "rpc:pong:ping19"), at_a.end());
  EXPECT_NE(std::find(at_a.begin(), at_a.end(), "gossip-lan:pong:ping-udp9"), at_a.end());
}

TEST(UvNetwork, CorruptFrameClosesOnlyThatConnection) {
  FrameProcess process;
  HostThread host(process, net_options());
  Client bad(host.port(0));
  ASSERT_TRUE(bad.connected());
  Bytes good = encode_rpc_frame(to_bytes("good"));
  Bytes corrupt = encode_rpc_frame(to_bytes("evil"));
  corrupt.back() ^= 0xff;
  bad.send(std::string(good.begin(), good.end()));
  bad.send(std::string(corrupt.begin(), corrupt.end()));
  EXPECT_TRUE(bad.closed_by_peer());

  Client fresh(host.port(0));
  Bytes again = encode_rpc_frame(to_bytes("again"));
  fresh.send(std::string(again.begin(), again.end()));
  auto frames = process.frames.wait_for(2);
  EXPECT_EQ(frames, (std::vector<std::string>{"rpc:good", "rpc:again"}));
}

TEST(UvNetwork, OversizedFrameHeaderClosesTheConnection) {
  FrameProcess process;
  HostThread host(process, net_options());
  Client c(host.port(0));
  Bytes header;
  put_u32_le(header, static_cast<std::uint32_t>(limits::kRpcMaxFrameBytes + 1));
  put_u32_le(header, 0);
  c.send(std::string(header.begin(), header.end()));
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(process.frames.items().empty());
}

TEST(UvNetwork, SendingToNobodyIsDroppedAndReconnectWorks) {
  FrameProcess b_process;
  HostThread b(b_process, net_options());
  node::Endpoint b_rpc = b.endpoint(0);
  // Port 1 on loopback refuses connections; the frame is dropped, then the real peer works.
  FrameProcess a_process;
  a_process.on_start = [&](node::Env& env) {
    env.network.send(node::Endpoint{"127.0.0.1", 1}, node::Channel::kRpc, to_bytes("lost"));
    env.network.send(b_rpc, node::Channel::kRpc, to_bytes("ping-after"));
  };
  HostThread a(a_process, net_options());
  auto at_a = a_process.frames.wait_for(1);
  EXPECT_EQ(at_a, (std::vector<std::string>{"rpc:pong:ping-after"}));
}

TEST(UvNetwork, GossipStreamRoundTripBetweenTwoHosts) {
  FrameProcess b_process;
  HostOptions b_options;
  b_options.listeners = {Listener{node::Channel::kGossipLan, {"127.0.0.1", 0}},
                         Listener{node::Channel::kGossipLanStream, {"127.0.0.1", 0}}};
  HostThread b(b_process, b_options);
  node::Endpoint b_udp = b.endpoint(0);
  node::Endpoint b_stream = b.endpoint(1);

  FrameProcess a_process;
  a_process.on_start = [&](node::Env& env) {
    env.network.send(b_stream, node::Channel::kGossipLanStream, to_bytes("ping-stream"));
    env.network.send(b_udp, node::Channel::kGossipLan, to_bytes("ping-udp"));
  };
  HostThread a(a_process, net_options());
  auto at_b = b_process.frames.wait_for(2);
  std::sort(at_b.begin(), at_b.end());
  EXPECT_EQ(at_b,
            (std::vector<std::string>{"gossip-lan-stream:ping-stream", "gossip-lan:ping-udp"}));
  // b answered each on its channel; the stream reply rode a's connection (a has no stream
  // listener to connect to).
  auto at_a = a_process.frames.wait_for(2);
  std::sort(at_a.begin(), at_a.end());
  EXPECT_EQ(at_a, (std::vector<std::string>{"gossip-lan-stream:pong:ping-stream",
                                            "gossip-lan:pong:ping-udp"}));
}

}  // namespace
}  // namespace praetor::io
