#include "io/uv_network.hpp"

#include <fmt/format.h>

#include <memory>

#include "io/sockaddr.hpp"

namespace praetor::io {
namespace {

constexpr std::size_t kReadBufferBytes = 64 * 1024;
// With UV_UDP_RECVMMSG, libuv fills a buffer of several 64 KiB slots with one recvmmsg() call, so
// a burst of DNS queries or gossip packets costs one wake-up.
constexpr std::size_t kUdpBatchBytes = 8 * 64 * 1024;
constexpr std::size_t kUdpMaxPayloadBytes = 65507;
// Per-connection cap on frames waiting to connect or to drain into the kernel.
constexpr std::size_t kRpcMaxQueuedBytes = 64 * 1024 * 1024;
constexpr int kListenBacklog = 511;

}  // namespace

struct UvNetwork::Udp {
  uv_udp_t handle{};
  UvNetwork* net = nullptr;
  node::Channel channel = node::Channel::kGossipLan;
};

struct UvNetwork::RpcListener {
  uv_tcp_t tcp{};
  UvNetwork* net = nullptr;
  node::Endpoint bound;
};

struct UvNetwork::RpcConnection {
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  UvNetwork* net = nullptr;
  node::Endpoint peer;
  bool inbound = false;
  bool connected = false;
  bool closing = false;
  RpcFrameDecoder decoder;
  std::deque<Bytes> queued;  // payloads sent before the connection was established
  std::size_t queued_bytes = 0;
};

struct UvNetwork::UdpSend {
  uv_udp_send_t req{};
  Bytes data;
};

struct UvNetwork::RpcWrite {
  uv_write_t req{};
  Bytes frame;
};

UvNetwork::UvNetwork(uv_loop_t* loop, Logger& logger, FrameHandler handler)
    : loop_(loop),
      logger_(logger),
      handler_(std::move(handler)),
      read_buffer_(kReadBufferBytes),
      udp_buffer_(kUdpBatchBytes) {}

UvNetwork::~UvNetwork() { PRAETOR_ASSERT_MSG(closed(), "UvNetwork destroyed with handles open"); }

Result<node::Endpoint> UvNetwork::listen(node::Channel channel, const node::Endpoint& at) {
  PRAETOR_ASSERT(!closing_);
  switch (channel) {
    case node::Channel::kRpc:
      return listen_rpc(at);
    case node::Channel::kGossipLan:
    case node::Channel::kGossipWan:
    case node::Channel::kDns:
      return listen_udp(channel, at);
    case node::Channel::kHttp:
    case node::Channel::kGossipLanStream:  // not yet: gossip streams over TCP
    case node::Channel::kGossipWanStream:
      break;
  }
  return make_error(ErrorCode::kInvalidArgument, "HTTP listeners belong to the HTTP server");
}

Result<node::Endpoint> UvNetwork::listen_udp(node::Channel channel, const node::Endpoint& at) {
  if (udp_.count(channel) != 0) {
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("a {} socket is already open", node::channel_name(channel)));
  }
  auto address = to_sockaddr(at);
  if (!address) return address.error();
  auto* u = new Udp;
  u->net = this;
  u->channel = channel;
  uv_udp_init_ex(loop_, &u->handle, AF_UNSPEC | UV_UDP_RECVMMSG);
  u->handle.data = u;
  int rc = uv_udp_bind(&u->handle, reinterpret_cast<const sockaddr*>(&*address), 0);
  if (rc == 0) rc = uv_udp_recv_start(&u->handle, on_udp_alloc, on_udp_recv);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&u->handle),
             [](uv_handle_t* h) { delete static_cast<Udp*>(h->data); });
    return make_error(ErrorCode::kIo,
                      fmt::format("cannot bind {} on {}: {}", node::channel_name(channel),
                                  at.to_string(), uv_message(rc)));
  }
  udp_[channel] = u;
  auto bound = udp_local_endpoint(&u->handle);
  return bound ? *bound : at;
}

Result<node::Endpoint> UvNetwork::listen_rpc(const node::Endpoint& at) {
  auto address = to_sockaddr(at);
  if (!address) return address.error();
  auto* l = new RpcListener;
  l->net = this;
  uv_tcp_init(loop_, &l->tcp);
  l->tcp.data = l;
  int rc = uv_tcp_bind(&l->tcp, reinterpret_cast<const sockaddr*>(&*address), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), kListenBacklog, on_rpc_accept);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp),
             [](uv_handle_t* h) { delete static_cast<RpcListener*>(h->data); });
    return make_error(ErrorCode::kIo, fmt::format("cannot listen for RPC on {}: {}", at.to_string(),
                                                  uv_message(rc)));
  }
  auto bound = tcp_local_endpoint(&l->tcp);
  l->bound = bound ? *bound : at;
  rpc_listeners_.insert(l);
  return l->bound;
}

void UvNetwork::send(const node::Endpoint& to, node::Channel channel, Bytes payload) {
  if (closing_) return;
  if (payload.size() > limits::kRpcMaxFrameBytes) {
    logger_.warn("network", "dropping {} frame of {} bytes to {}: over the {} byte limit",
                 node::channel_name(channel), payload.size(), to, limits::kRpcMaxFrameBytes);
    return;
  }
  switch (channel) {
    case node::Channel::kRpc:
      send_rpc(to, std::move(payload));
      return;
    case node::Channel::kGossipLan:
    case node::Channel::kGossipWan:
    case node::Channel::kDns:
      send_udp(to, channel, std::move(payload));
      return;
    case node::Channel::kHttp:
    case node::Channel::kGossipLanStream:  // not yet: gossip streams over TCP
    case node::Channel::kGossipWanStream:
      break;
  }
  logger_.warn("network", "dropping frame to {} on channel {}: not a network channel", to,
               node::channel_name(channel));
}

// --- UDP -------------------------------------------------------------------------------------

UvNetwork::Udp* UvNetwork::udp_for(node::Channel channel) {
  auto it = udp_.find(channel);
  if (it != udp_.end()) return it->second;
  // No listener for this channel: send from an ephemeral socket, and read its replies too.
  auto* u = new Udp;
  u->net = this;
  u->channel = channel;
  uv_udp_init(loop_, &u->handle);
  u->handle.data = u;
  udp_[channel] = u;
  return u;
}

void UvNetwork::send_udp(const node::Endpoint& to, node::Channel channel, Bytes payload) {
  if (payload.size() > kUdpMaxPayloadBytes) {
    logger_.warn("network", "dropping {} datagram of {} bytes to {}: too large for UDP",
                 node::channel_name(channel), payload.size(), to);
    return;
  }
  auto address = to_sockaddr(to);
  if (!address) {
    logger_.warn("network", "dropping {} datagram: {}", node::channel_name(channel),
                 address.error().message);
    return;
  }
  Udp* u = udp_for(channel);
  auto* s = new UdpSend;
  s->data = std::move(payload);
  s->req.data = s;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(s->data.data()), static_cast<unsigned>(s->data.size()));
  int rc = uv_udp_send(&s->req, &u->handle, &buf, 1, reinterpret_cast<const sockaddr*>(&*address),
                       [](uv_udp_send_t* req, int) { delete static_cast<UdpSend*>(req->data); });
  if (rc != 0) {
    delete s;
    logger_.debug("network", "{} send to {} failed: {}", node::channel_name(channel), to,
                  uv_message(rc));
    return;
  }
  // uv_udp_send bound the ephemeral socket; start reading replies on it.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&u->handle))) {
    uv_udp_recv_start(&u->handle, on_udp_alloc, on_udp_recv);
  }
}

void UvNetwork::on_udp_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* u = static_cast<Udp*>(handle->data);
  auto& buffer = u->net->udp_buffer_;
  *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
}

void UvNetwork::on_udp_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                            const sockaddr* addr, unsigned flags) {
  auto* u = static_cast<Udp*>(handle->data);
  UvNetwork* net = u->net;
  if (nread < 0) {
    net->logger_.debug("network", "{} receive error: {}", node::channel_name(u->channel),
                       uv_message(static_cast<int>(nread)));
    return;
  }
  // nread == 0 without an address: nothing to read, or the end of a recvmmsg batch (the shared
  // buffer needs no freeing).
  if (addr == nullptr || net->closing_ || (flags & UV_UDP_MMSG_FREE) != 0) return;
  if ((flags & UV_UDP_PARTIAL) != 0) {
    net->logger_.warn("network", "dropping truncated {} datagram from {}",
                      node::channel_name(u->channel), from_sockaddr(addr));
    return;
  }
  const auto* data = reinterpret_cast<const std::uint8_t*>(buf->base);
  net->handler_(from_sockaddr(addr), u->channel,
                Bytes(data, data + static_cast<std::size_t>(nread)));
}

// --- RPC over TCP ----------------------------------------------------------------------------

UvNetwork::RpcConnection* UvNetwork::new_rpc_connection(const node::Endpoint& peer, bool inbound) {
  auto* c = new RpcConnection;
  c->net = this;
  c->peer = peer;
  c->inbound = inbound;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  c->connect_req.data = c;
  rpc_.insert(c);
  return c;
}

void UvNetwork::register_rpc(RpcConnection* c) { rpc_by_peer_[c->peer] = c; }

void UvNetwork::send_rpc(const node::Endpoint& to, Bytes payload) {
  auto it = rpc_by_peer_.find(to);
  RpcConnection* c = it == rpc_by_peer_.end() ? nullptr : it->second;
  if (c == nullptr) {
    auto address = to_sockaddr(to);
    if (!address) {
      logger_.warn("rpc", "dropping frame: {}", address.error().message);
      return;
    }
    c = new_rpc_connection(to, false);
    register_rpc(c);
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<const sockaddr*>(&*address),
                            on_rpc_connect);
    if (rc != 0) {
      logger_.warn("rpc", "cannot connect to {}: {}", to, uv_message(rc));
      close_rpc(*c, "connect failed");
      return;
    }
  }
  if (!c->connected) {
    if (c->queued_bytes + payload.size() > kRpcMaxQueuedBytes) {
      logger_.warn("rpc", "dropping frame to {}: {} bytes already queued", to, c->queued_bytes);
      return;
    }
    c->queued_bytes += payload.size();
    c->queued.push_back(std::move(payload));
    return;
  }
  write_frame(*c, payload);
}

void UvNetwork::write_frame(RpcConnection& c, const Bytes& payload) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.tcp);
  if (uv_stream_get_write_queue_size(stream) + payload.size() > kRpcMaxQueuedBytes) {
    logger_.warn("rpc", "dropping frame to {}: the connection is backed up", c.peer);
    return;
  }
  auto* w = new RpcWrite;
  w->frame = encode_rpc_frame(payload);
  w->req.data = w;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(w->frame.data()), static_cast<unsigned>(w->frame.size()));
  int rc = uv_write(&w->req, stream, &buf, 1, on_rpc_write);
  if (rc != 0) {
    delete w;
    close_rpc(c, "write failed");
  }
}

void UvNetwork::on_rpc_write(uv_write_t* req, int status) {
  std::unique_ptr<RpcWrite> w(static_cast<RpcWrite*>(req->data));
  auto* c = static_cast<RpcConnection*>(req->handle->data);
  if (status < 0 && !c->closing) {
    c->net->logger_.debug("rpc", "write to {} failed: {}", c->peer, uv_message(status));
    c->net->close_rpc(*c, "write failed");
  }
}

void UvNetwork::on_rpc_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<RpcConnection*>(req->data);
  UvNetwork* net = c->net;
  if (c->closing) return;
  if (status < 0) {
    // Peers retry every second while one is down: warn once, then keep it to debug.
    bool first = net->unreachable_.insert(c->peer).second;
    auto level = first ? LogLevel::kWarn : LogLevel::kDebug;
    if (net->logger_.enabled(level)) {
      net->logger_.log(level, "rpc",
                       fmt::format("connect to {} failed: {}; dropping {} queued frames", c->peer,
                                   uv_message(status), c->queued.size()));
    }
    net->close_rpc(*c, "connect failed");
    return;
  }
  net->unreachable_.erase(c->peer);
  c->connected = true;
  uv_tcp_nodelay(&c->tcp, 1);
  std::deque<Bytes> queued;
  queued.swap(c->queued);
  c->queued_bytes = 0;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_rpc_alloc, on_rpc_read);
  for (const auto& payload : queued) {
    if (c->closing) break;
    net->write_frame(*c, payload);
  }
}

void UvNetwork::on_rpc_accept(uv_stream_t* stream, int status) {
  auto* l = static_cast<RpcListener*>(stream->data);
  UvNetwork* net = l->net;
  if (status < 0) {
    net->logger_.warn("rpc", "accept on {} failed: {}", l->bound, uv_message(status));
    return;
  }
  RpcConnection* c = net->new_rpc_connection(node::Endpoint{}, true);
  int rc = uv_accept(stream, reinterpret_cast<uv_stream_t*>(&c->tcp));
  auto peer = rc == 0 ? tcp_peer_endpoint(&c->tcp) : Result<node::Endpoint>(node::Endpoint{});
  if (rc != 0 || !peer || net->closing_) {
    net->close_rpc(*c, "accept failed");
    return;
  }
  c->peer = *peer;
  c->connected = true;
  uv_tcp_nodelay(&c->tcp, 1);
  net->register_rpc(c);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_rpc_alloc, on_rpc_read);
}

void UvNetwork::on_rpc_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* c = static_cast<RpcConnection*>(handle->data);
  auto& buffer = c->net->read_buffer_;
  *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
}

void UvNetwork::on_rpc_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<RpcConnection*>(stream->data);
  UvNetwork* net = c->net;
  if (c->closing) return;
  if (nread < 0) {
    net->close_rpc(*c, nread == UV_EOF ? "closed by peer" : "read failed");
    return;
  }
  c->decoder.feed(
      ByteView(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)));
  while (!c->closing && !net->closing_) {
    auto frame = c->decoder.next();
    if (!frame) {
      net->logger_.warn("rpc", "bad frame from {}: {}; closing the connection", c->peer,
                        frame.error().message);
      net->close_rpc(*c, "bad frame");
      return;
    }
    if (!frame->has_value()) return;
    net->handler_(c->peer, node::Channel::kRpc, std::move(**frame));
  }
}

void UvNetwork::close_rpc(RpcConnection& c, const char* why) {
  if (c.closing) return;
  c.closing = true;
  logger_.debug("rpc", "closing connection to {}: {}", c.peer, why);
  auto it = rpc_by_peer_.find(c.peer);
  if (it != rpc_by_peer_.end() && it->second == &c) rpc_by_peer_.erase(it);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), [](uv_handle_t* h) {
    auto* conn = static_cast<RpcConnection*>(h->data);
    conn->net->rpc_.erase(conn);
    delete conn;
  });
}

void UvNetwork::close() {
  if (closing_) return;
  closing_ = true;
  for (auto& [channel, u] : udp_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&u->handle), [](uv_handle_t* h) {
      auto* udp = static_cast<Udp*>(h->data);
      udp->net->udp_.erase(udp->channel);
      delete udp;
    });
  }
  for (RpcListener* l : rpc_listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), [](uv_handle_t* h) {
      auto* listener = static_cast<RpcListener*>(h->data);
      listener->net->rpc_listeners_.erase(listener);
      delete listener;
    });
  }
  std::vector<RpcConnection*> open(rpc_.begin(), rpc_.end());
  for (RpcConnection* c : open) close_rpc(*c, "shutting down");
}

}  // namespace praetor::io
