// UvNetwork: node::Network on libuv. Gossip and DNS ride UDP datagrams; server RPC rides TCP
// streams of checksummed frames (io/rpc_frame.hpp).
//
// RPC connections are kept in one cache keyed by the remote endpoint, inbound and outbound alike,
// so a reply sent to the `from` of a received frame goes back over the connection the frame came
// in on. An outbound connection is opened on first send and reopened on the next send after it
// fails; frames sent while it connects wait in a bounded queue. Delivery is best effort: frames
// are dropped (and logged) when a connection fails or a queue is full, and a bad frame closes the
// connection that carried it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "core/base/log.hpp"
#include "core/node/env.hpp"
#include "io/rpc_frame.hpp"

namespace praetor::io {

class UvNetwork final : public node::Network {
 public:
  using FrameHandler =
      std::function<void(const node::Endpoint& from, node::Channel channel, Bytes payload)>;

  UvNetwork(uv_loop_t* loop, Logger& logger, FrameHandler handler);
  ~UvNetwork() override;
  UvNetwork(const UvNetwork&) = delete;
  UvNetwork& operator=(const UvNetwork&) = delete;

  // UDP for gossip and DNS, a TCP listener for kRpc. Returns the bound address.
  Result<node::Endpoint> listen(node::Channel channel, const node::Endpoint& at);
  void send(const node::Endpoint& to, node::Channel channel, Bytes payload) override;

  void close();
  bool closed() const { return udp_.empty() && rpc_listeners_.empty() && rpc_.empty(); }
  // Open RPC connections (inbound and outbound); for tests.
  std::size_t rpc_connection_count() const { return rpc_by_peer_.size(); }

 private:
  struct Udp;
  struct RpcListener;
  struct RpcConnection;
  struct UdpSend;
  struct RpcWrite;

  Result<node::Endpoint> listen_udp(node::Channel channel, const node::Endpoint& at);
  Result<node::Endpoint> listen_rpc(const node::Endpoint& at);
  void send_udp(const node::Endpoint& to, node::Channel channel, Bytes payload);
  void send_rpc(const node::Endpoint& to, Bytes payload);
  Udp* udp_for(node::Channel channel);
  RpcConnection* new_rpc_connection(const node::Endpoint& peer, bool inbound);
  void register_rpc(RpcConnection* c);
  void write_frame(RpcConnection& c, const Bytes& payload);
  void close_rpc(RpcConnection& c, const char* why);

  static void on_udp_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_udp_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                          const sockaddr* addr, unsigned flags);
  static void on_rpc_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_rpc_accept(uv_stream_t* stream, int status);
  static void on_rpc_connect(uv_connect_t* req, int status);
  static void on_rpc_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_rpc_write(uv_write_t* req, int status);

  uv_loop_t* loop_;
  Logger& logger_;
  FrameHandler handler_;
  std::map<node::Channel, Udp*> udp_;
  std::set<RpcListener*> rpc_listeners_;
  std::set<RpcConnection*> rpc_;                          // every open connection
  std::map<node::Endpoint, RpcConnection*> rpc_by_peer_;  // the one used to send to a peer
  std::set<node::Endpoint> unreachable_;  // peers whose last connect failed (warned once)
  std::vector<char> read_buffer_;         // TCP reads
  std::vector<char> udp_buffer_;          // UDP reads, several datagrams at once
  bool closing_ = false;
};

}  // namespace praetor::io
