#include "io/uv_network.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>

#include "io/dns_frame.hpp"
#include "io/sockaddr.hpp"

namespace praetor::io {
namespace {

constexpr std::size_t kReadBufferBytes = 64 * 1024;
// With UV_UDP_RECVMMSG, libuv fills a buffer of several 64 KiB slots with one recvmmsg() call, so
// a burst of DNS queries or gossip packets costs one wake-up. libuv 1.44 uses at most 20 slots
// per call (UV__MMSG_MAXWIDTH).
constexpr std::size_t kUdpBatchSlots = 20;
constexpr std::size_t kUdpBatchBytes = kUdpBatchSlots * 64 * 1024;
// Sent datagrams' vectors kept for received ones, and the largest kept: enough for a burst of
// DNS answers, without holding large gossip buffers.
constexpr std::size_t kSpareBuffersMax = 256;
constexpr std::size_t kSpareBufferCapacityMax = 8 * 1024;
// With several DNS sockets: peers remembered for choosing the socket to answer from.
constexpr std::size_t kDnsReplyViaMax = 65'536;
// Datagrams per sendmmsg() call (Linux takes up to UIO_MAXIOV, 1024).
constexpr std::size_t kSendBatchMax = 64;
constexpr std::size_t kUdpMaxPayloadBytes = 65507;
constexpr int kListenBacklog = 511;
// Closed inbound connections remembered, so that a late reply to one is dropped rather than sent
// by connecting to the sender's ephemeral port (which would be refused, and back off, for nothing).
constexpr std::size_t kClosedInboundRemembered = 1024;

bool is_stream(node::Channel channel) {
  return channel == node::Channel::kGossipLanStream || channel == node::Channel::kGossipWanStream;
}

bool is_dns(node::Channel channel) { return channel == node::Channel::kDnsStream; }

socklen_t sockaddr_length(const sockaddr_storage& address) {
  return address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// Consul's log prefixes: server RPC under "rpc", push/pull streams under "memberlist", DNS under
// "dns".
std::string_view topic(node::Channel channel) {
  if (channel == node::Channel::kRpc) return "rpc";
  return is_dns(channel) ? "dns" : "memberlist";
}

std::size_t frame_header_bytes(node::Channel channel) {
  return is_dns(channel) ? kDnsTcpPrefixBytes : kRpcFrameHeaderBytes;
}

}  // namespace

struct UvNetwork::Udp {
  struct Pending {
    sockaddr_storage to{};
    Bytes data;
  };
  uv_udp_t handle{};
  UvNetwork* net = nullptr;
  node::Channel channel = node::Channel::kGossipLan;
  bool batch = false;            // a bound DNS socket batching its sends
  std::vector<Pending> pending;  // batched datagrams, sent by flush_udp()
};

struct UvNetwork::TcpListener {
  uv_tcp_t tcp{};
  UvNetwork* net = nullptr;
  node::Channel channel = node::Channel::kRpc;
  node::Endpoint bound;
};

struct UvNetwork::Connection {
  uv_tcp_t tcp{};
  uv_connect_t connect_req{};
  UvNetwork* net = nullptr;
  node::Channel channel = node::Channel::kRpc;
  node::Endpoint peer;  // an inbound connection's is the sender's ephemeral port
  bool inbound = false;
  bool connected = false;
  bool admitted = false;   // counted against the inbound caps (rpc_inbound_, *_per_client_)
  bool got_frame = false;  // a whole frame has arrived (the first-frame timeout is over)
  bool closing = false;
  Instant opened;  // for the connect timeout
  // The last whole frame sent or received, for the idle timeout: a peer trickling bytes of a
  // frame does not keep a stream connection (and its frame buffer) open.
  Instant last_active;
  RpcFrameDecoder decoder;       // kRpc and the gossip streams
  DnsTcpDecoder dns_decoder;     // kDnsStream
  std::deque<Bytes> queued;      // payloads sent before the connection was established
  std::size_t queued_bytes = 0;  // their bytes, frame headers included

  Key key() const { return Key{channel, peer}; }
  std::size_t queued_bytes_max() const {
    if (is_dns(channel)) return net->options_.dns_tcp_queued_bytes_max;
    return is_stream(channel) ? net->options_.stream_queued_bytes_max
                              : net->options_.rpc_queued_bytes_max;
  }
};

struct UvNetwork::UdpSend {
  uv_udp_send_t req{};
  Bytes data;
};

struct UvNetwork::TcpWrite {
  uv_write_t req{};
  Bytes frame;
};

UvNetwork::UvNetwork(uv_loop_t* loop, Logger& logger, FrameHandler handler, NetworkOptions options)
    : loop_(loop),
      logger_(logger),
      handler_(std::move(handler)),
      options_(std::move(options)),
      rng_(options_.seed),
      rpc_refusals_(
          loop, [this] { return now(); }, logger_, "rpc", "refused", "connections",
          Duration::milliseconds(limits::kRefusalLogIntervalMs)),
      stream_refusals_(
          loop, [this] { return now(); }, logger_, "memberlist", "refused", "connections",
          Duration::milliseconds(limits::kRefusalLogIntervalMs)),
      dns_refusals_(
          loop, [this] { return now(); }, logger_, "dns", "refused", "connections",
          Duration::milliseconds(limits::kRefusalLogIntervalMs)),
      read_buffer_(kReadBufferBytes),
      udp_buffer_(kUdpBatchBytes) {
  // A queue must hold at least one frame of the largest size, or such frames could never be sent.
  constexpr std::size_t kLargestFrame = limits::kRpcMaxFrameBytes + kRpcFrameHeaderBytes;
  PRAETOR_ASSERT(options_.rpc_queued_bytes_max >= kLargestFrame);
  PRAETOR_ASSERT(options_.stream_queued_bytes_max >= kLargestFrame);
  PRAETOR_ASSERT(options_.reconnect_backoff_min > Duration::zero());
  PRAETOR_ASSERT(options_.reconnect_backoff_min <= options_.reconnect_backoff_max);
  PRAETOR_ASSERT(options_.stream_idle_timeout > Duration::zero());
  PRAETOR_ASSERT(options_.connect_timeout > Duration::zero());
  PRAETOR_ASSERT(options_.rpc_first_frame_timeout > Duration::zero());
  PRAETOR_ASSERT(options_.rpc_first_frame_timeout <= options_.rpc_idle_timeout);
  PRAETOR_ASSERT(options_.rpc_inbound_per_client_max > 0);
  PRAETOR_ASSERT(options_.stream_inbound_per_client_max > 0);
  PRAETOR_ASSERT(options_.dns_tcp_idle_timeout > Duration::zero());
  PRAETOR_ASSERT(options_.dns_tcp_queued_bytes_max >= limits::kDnsTcpMaxBytes + kDnsTcpPrefixBytes);
}

UvNetwork::~UvNetwork() { PRAETOR_ASSERT_MSG(closed(), "UvNetwork destroyed with handles open"); }

Result<node::Endpoint> UvNetwork::listen(node::Channel channel, const node::Endpoint& at) {
  PRAETOR_ASSERT(!closing_);
  switch (channel) {
    case node::Channel::kRpc:
    case node::Channel::kGossipLanStream:
    case node::Channel::kGossipWanStream:
    case node::Channel::kDnsStream:
      return listen_tcp(channel, at);
    case node::Channel::kGossipLan:
    case node::Channel::kGossipWan:
    case node::Channel::kDns:
      return listen_udp(channel, at);
    case node::Channel::kHttp:
      break;
  }
  return make_error(ErrorCode::kInvalidArgument, "HTTP listeners belong to the HTTP server");
}

Result<node::Endpoint> UvNetwork::listen_udp(node::Channel channel, const node::Endpoint& at) {
  // DNS may answer on several client addresses; every other UDP channel has one socket.
  if (channel != node::Channel::kDns && udp_.count(channel) != 0) {
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
  if (rc == 0 && channel == node::Channel::kDns) tune_dns_socket(*u);
  if (rc == 0) rc = uv_udp_recv_start(&u->handle, on_udp_alloc, on_udp_recv);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&u->handle),
             [](uv_handle_t* h) { delete static_cast<Udp*>(h->data); });
    return make_error(ErrorCode::kIo,
                      fmt::format("cannot bind {} on {}: {}", node::channel_name(channel),
                                  at.to_string(), uv_message(rc)));
  }
  udp_open_.insert(u);
  if (channel == node::Channel::kDns) {
    dns_udp_.push_back(u);
    u->batch = options_.dns_udp_batch_sends;
  }
  udp_.emplace(channel, u);  // the first socket of a channel is the one it sends from
  auto bound = udp_local_endpoint(&u->handle);
  return bound ? *bound : at;
}

// A large receive buffer lets a burst of queries wait in the kernel while the loop answers the
// previous batch; SO_RCVBUF is capped by net.core.rmem_max, which SO_RCVBUFFORCE may exceed when
// the process is privileged. Failures only cost headroom, so they are logged, not returned.
void UvNetwork::tune_dns_socket(Udp& u) {
  if (options_.dns_udp_buffer_bytes == 0) return;
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&u.handle), &fd) != 0) return;
  const int want = static_cast<int>(std::min<std::size_t>(options_.dns_udp_buffer_bytes, 1 << 30));
  for (auto [option, force] : {std::pair{SO_RCVBUF, SO_RCVBUFFORCE}, {SO_SNDBUF, SO_SNDBUFFORCE}}) {
    int size = want;
    ::setsockopt(fd, SOL_SOCKET, option, &size, sizeof size);
    int granted = 0;
    socklen_t length = sizeof granted;
    ::getsockopt(fd, SOL_SOCKET, option, &granted, &length);
    // Linux reports twice what was set (the bookkeeping overhead); below want it was capped.
    if (granted < want) ::setsockopt(fd, SOL_SOCKET, force, &size, sizeof size);
  }
  int granted = 0;
  socklen_t length = sizeof granted;
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &length);
  if (dns_udp_.empty()) dns_udp_recv_buffer_ = static_cast<std::size_t>(granted);
  if (static_cast<std::size_t>(granted) < options_.dns_udp_buffer_bytes) {
    logger_.debug("dns",
                  "the DNS socket's receive buffer is {} bytes ({} asked; raise "
                  "net.core.rmem_max for more)",
                  granted, options_.dns_udp_buffer_bytes);
  }
}

Result<node::Endpoint> UvNetwork::listen_tcp(node::Channel channel, const node::Endpoint& at) {
  auto address = to_sockaddr(at);
  if (!address) return address.error();
  auto* l = new TcpListener;
  l->net = this;
  l->channel = channel;
  uv_tcp_init(loop_, &l->tcp);
  l->tcp.data = l;
  int rc = uv_tcp_bind(&l->tcp, reinterpret_cast<const sockaddr*>(&*address), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), kListenBacklog, on_tcp_accept);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp),
             [](uv_handle_t* h) { delete static_cast<TcpListener*>(h->data); });
    return make_error(ErrorCode::kIo,
                      fmt::format("cannot listen for {} on {}: {}", node::channel_name(channel),
                                  at.to_string(), uv_message(rc)));
  }
  auto bound = tcp_local_endpoint(&l->tcp);
  l->bound = bound ? *bound : at;
  listeners_.insert(l);
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
    case node::Channel::kGossipLanStream:
    case node::Channel::kGossipWanStream:
      send_tcp(to, channel, std::move(payload));
      return;
    case node::Channel::kDnsStream:
      if (payload.size() > limits::kDnsTcpMaxBytes) {
        logger_.warn("dns", "dropping a {} byte DNS message to {}: over the {} byte TCP limit",
                     payload.size(), to, limits::kDnsTcpMaxBytes);
        return;
      }
      send_tcp(to, channel, std::move(payload));
      return;
    case node::Channel::kGossipLan:
    case node::Channel::kGossipWan:
    case node::Channel::kDns:
      send_udp(to, channel, std::move(payload));
      return;
    case node::Channel::kHttp:
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
  udp_open_.insert(u);
  return u;
}

UvNetwork::Udp* UvNetwork::dns_udp_for(const node::Endpoint& to) {
  if (dns_udp_.size() > 1) {
    auto it = dns_reply_via_.find(to);
    if (it != dns_reply_via_.end()) return it->second;
  }
  return udp_for(node::Channel::kDns);
}

Bytes UvNetwork::take_buffer() {
  if (spare_buffers_.empty()) return Bytes();
  Bytes out = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  return out;
}

void UvNetwork::recycle(Bytes&& buffer) {
  if (spare_buffers_.size() >= kSpareBuffersMax || buffer.capacity() > kSpareBufferCapacityMax) {
    return;
  }
  buffer.clear();
  spare_buffers_.push_back(std::move(buffer));
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
  Udp* u = channel == node::Channel::kDns ? dns_udp_for(to) : udp_for(channel);
  if (u->batch) {
    // Sent by flush_udp() before the loop polls again, with the rest of this iteration's.
    if (u->pending.empty()) udp_to_flush_.push_back(u);
    u->pending.push_back(Udp::Pending{*address, std::move(payload)});
    if (!flush_open_) {
      uv_prepare_init(loop_, &flush_prepare_);
      flush_prepare_.data = this;
      uv_unref(reinterpret_cast<uv_handle_t*>(&flush_prepare_));
      flush_open_ = true;
    }
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&flush_prepare_))) {
      uv_prepare_start(&flush_prepare_, on_flush);
    }
    return;
  }
  const auto* target = reinterpret_cast<const sockaddr*>(&*address);
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(payload.data()), static_cast<unsigned>(payload.size()));
  // Straight into the kernel when it takes it (no request, no completion callback); queued only
  // when earlier datagrams are still queued or the socket buffer is full.
  int rc = uv_udp_try_send(&u->handle, &buf, 1, target);
  if (rc >= 0) {
    recycle(std::move(payload));
  } else if (rc == UV_EAGAIN) {
    queue_udp_send(*u, target, std::move(payload));
  } else {
    ++stats_.udp_send_failures;
    logger_.debug("network", "{} send to {} failed: {}", node::channel_name(channel), to,
                  uv_message(rc));
    return;
  }
  // Sending bound an ephemeral socket; start reading replies on it.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&u->handle))) {
    uv_udp_recv_start(&u->handle, on_udp_alloc, on_udp_recv);
  }
}

void UvNetwork::queue_udp_send(Udp& u, const sockaddr* to, Bytes payload) {
  ++stats_.udp_queued_sends;
  auto* s = new UdpSend;
  s->data = std::move(payload);
  s->req.data = s;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(s->data.data()), static_cast<unsigned>(s->data.size()));
  int rc = uv_udp_send(&s->req, &u.handle, &buf, 1, to,
                       [](uv_udp_send_t* req, int) { delete static_cast<UdpSend*>(req->data); });
  if (rc != 0) {
    delete s;
    ++stats_.udp_send_failures;
    logger_.debug("network", "{} send failed: {}", node::channel_name(u.channel), uv_message(rc));
  }
}

void UvNetwork::on_flush(uv_prepare_t* prepare) {
  static_cast<UvNetwork*>(prepare->data)->flush_udp();
}

void UvNetwork::flush_udp() {
  uv_prepare_stop(&flush_prepare_);
  std::vector<Udp*> sockets;
  sockets.swap(udp_to_flush_);
  for (Udp* u : sockets) {
    std::vector<Udp::Pending>& pending = u->pending;
    std::size_t done = 0;
    uv_os_fd_t fd = -1;
    // Behind datagrams libuv still holds, so as not to overtake them.
    bool direct = uv_udp_get_send_queue_count(&u->handle) == 0 &&
                  uv_fileno(reinterpret_cast<uv_handle_t*>(&u->handle), &fd) == 0;
    while (direct && done < pending.size()) {
      std::array<mmsghdr, kSendBatchMax> messages{};
      std::array<iovec, kSendBatchMax> parts{};
      const std::size_t n = std::min(pending.size() - done, kSendBatchMax);
      for (std::size_t i = 0; i < n; ++i) {
        Udp::Pending& p = pending[done + i];
        parts[i] = iovec{p.data.data(), p.data.size()};
        messages[i].msg_hdr.msg_name = &p.to;
        messages[i].msg_hdr.msg_namelen = sockaddr_length(p.to);
        messages[i].msg_hdr.msg_iov = &parts[i];
        messages[i].msg_hdr.msg_iovlen = 1;
      }
      int sent = ::sendmmsg(fd, messages.data(), static_cast<unsigned>(n), MSG_DONTWAIT);
      ++stats_.udp_batches;
      if (sent > 0) {
        done += static_cast<std::size_t>(sent);
      } else if (sent < 0 && errno == EINTR) {
        continue;
      } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;  // the socket buffer is full: the rest waits in libuv's queue
      } else {
        // The first datagram failed (an unreachable address, say): drop it, send the rest.
        ++stats_.udp_send_failures;
        logger_.debug("network", "{} send failed: {}", node::channel_name(u->channel),
                      uv_message(sent < 0 ? -errno : UV_EIO));
        ++done;
      }
    }
    for (std::size_t i = done; i < pending.size(); ++i) {
      queue_udp_send(*u, reinterpret_cast<const sockaddr*>(&pending[i].to),
                     std::move(pending[i].data));
    }
    for (std::size_t i = 0; i < done; ++i) recycle(std::move(pending[i].data));
    pending.clear();
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
    net->logger_.debug("network", "dropping truncated {} datagram from {}",
                       node::channel_name(u->channel), from_sockaddr(addr));
    return;
  }
  if (u->channel == node::Channel::kDns && static_cast<std::size_t>(nread) < kDnsHeaderBytes) {
    // Not even a header: nothing to answer (a FORMERR needs the query's ID), so not the
    // agent's business.
    ++net->stats_.dns_short_datagrams;
    return;
  }
  node::Endpoint from = from_sockaddr(addr);
  if (u->channel == node::Channel::kDns && net->dns_udp_.size() > 1) {
    if (net->dns_reply_via_.size() >= kDnsReplyViaMax) net->dns_reply_via_.clear();
    net->dns_reply_via_[from] = u;
  }
  const auto* data = reinterpret_cast<const std::uint8_t*>(buf->base);
  Bytes payload = net->take_buffer();
  payload.assign(data, data + static_cast<std::size_t>(nread));
  net->handler_(from, u->channel, std::move(payload));
}

// --- TCP: RPC, gossip and DNS streams --------------------------------------------------------

Instant UvNetwork::now() const {
  if (options_.clock) return options_.clock();
  return Instant::from_ns(static_cast<std::int64_t>(uv_hrtime()));
}

std::size_t UvNetwork::connection_count(node::Channel channel) const {
  return static_cast<std::size_t>(std::count_if(
      connections_.begin(), connections_.end(),
      [channel](const Connection* c) { return c->channel == channel && !c->closing; }));
}

UvNetwork::Connection* UvNetwork::new_connection(node::Channel channel, const node::Endpoint& peer,
                                                 bool inbound) {
  auto* c = new Connection;
  c->net = this;
  c->channel = channel;
  c->peer = peer;
  c->inbound = inbound;
  c->opened = c->last_active = now();
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  c->connect_req.data = c;
  connections_.insert(c);
  if (is_stream(channel)) ++stream_connections_;
  if (is_dns(channel)) ++dns_connections_;
  arm_sweep();
  return c;
}

bool UvNetwork::stream_cap_reached() const {
  return stream_connections_ >= options_.stream_connections_max;
}

bool UvNetwork::dns_cap_reached() const {
  return dns_connections_ >= options_.dns_tcp_connections_max;
}

void UvNetwork::log_over_dns_cap(const node::Endpoint& peer, const char* what) {
  ++stats_.dns_tcp_over_cap;
  dns_refusals_.refused(fmt::format("refusing to {} {}: {} DNS TCP connections are open, the limit",
                                    what, peer, dns_connections_));
}

void UvNetwork::log_over_stream_cap(const node::Endpoint& peer, const char* what) {
  ++stats_.stream_over_cap;
  // A flood would repeat this per connection: warn once until the count has fallen well below.
  auto level = stream_cap_warned_ ? LogLevel::kDebug : LogLevel::kWarn;
  stream_cap_warned_ = true;
  if (!logger_.enabled(level)) return;
  logger_.log(level, "memberlist",
              fmt::format("refusing to {} {}: {} stream connections are open, the limit", what,
                          peer, stream_connections_));
}

UvNetwork::Connection* UvNetwork::open_connection(node::Channel channel, const node::Endpoint& to) {
  Key key{channel, to};
  if (closed_inbound_.count(key) != 0) {
    // `to` is the ephemeral port of a connection that has closed; nothing listens there.
    ++stats_.dropped_closed_inbound;
    logger_.debug(topic(channel), "dropping {} frame to {}: the connection it answers has closed",
                  node::channel_name(channel), to);
    return nullptr;
  }
  auto backoff = backoff_.find(key);
  if (backoff != backoff_.end()) {
    Instant t = now();
    if (t < backoff->second.retry_at) {
      ++stats_.dropped_in_backoff;
      logger_.debug(topic(channel), "dropping {} frame to {}: reconnecting in {}",
                    node::channel_name(channel), to, backoff->second.retry_at - t);
      return nullptr;
    }
  }
  if (is_stream(channel) && stream_cap_reached()) {
    log_over_stream_cap(to, "connect to");
    return nullptr;
  }
  if (is_dns(channel) && dns_cap_reached()) {
    log_over_dns_cap(to, "connect to");
    return nullptr;
  }
  auto address = to_sockaddr(to);
  if (!address) {
    logger_.warn(topic(channel), "dropping {} frame: {}", node::channel_name(channel),
                 address.error().message);
    return nullptr;
  }
  Connection* c = new_connection(channel, to, false);
  by_key_[key] = c;
  ++stats_.connect_attempts;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<const sockaddr*>(&*address),
                          on_tcp_connect);
  if (rc != 0) {
    connect_failed(*c, uv_message(rc));
    return nullptr;
  }
  return c;
}

void UvNetwork::send_tcp(const node::Endpoint& to, node::Channel channel, Bytes payload) {
  auto it = by_key_.find(Key{channel, to});
  Connection* c = it == by_key_.end() ? open_connection(channel, to) : it->second;
  if (c == nullptr) return;
  c->last_active = now();
  if (c->connected) {
    write_frame(*c, payload);
    return;
  }
  std::size_t cost = frame_header_bytes(channel) + payload.size();
  if (c->queued_bytes + cost > c->queued_bytes_max()) {
    ++stats_.dropped_queue_full;
    logger_.warn(topic(channel), "dropping {} frame to {}: {} bytes already queued",
                 node::channel_name(channel), to, c->queued_bytes);
    return;
  }
  c->queued_bytes += cost;
  c->queued.push_back(std::move(payload));
}

void UvNetwork::write_frame(Connection& c, const Bytes& payload) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.tcp);
  if (uv_stream_get_write_queue_size(stream) + frame_header_bytes(c.channel) + payload.size() >
      c.queued_bytes_max()) {
    ++stats_.dropped_queue_full;
    // A DNS client that pipelines queries and never reads its answers is its own problem.
    logger_.log(is_dns(c.channel) ? LogLevel::kDebug : LogLevel::kWarn, topic(c.channel),
                fmt::format("dropping {} frame to {}: the connection is backed up",
                            node::channel_name(c.channel), c.peer));
    return;
  }
  auto* w = new TcpWrite;
  w->frame = is_dns(c.channel) ? encode_dns_tcp_frame(payload) : encode_rpc_frame(payload);
  w->req.data = w;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(w->frame.data()), static_cast<unsigned>(w->frame.size()));
  int rc = uv_write(&w->req, stream, &buf, 1, on_tcp_write);
  if (rc != 0) {
    delete w;
    close_connection(c, "write failed", true);
  }
}

void UvNetwork::on_tcp_write(uv_write_t* req, int status) {
  std::unique_ptr<TcpWrite> w(static_cast<TcpWrite*>(req->data));
  auto* c = static_cast<Connection*>(req->handle->data);
  if (status < 0 && !c->closing) {
    c->net->logger_.debug(topic(c->channel), "write to {} failed: {}", c->peer, uv_message(status));
    c->net->close_connection(*c, "write failed", true);
  }
}

UvNetwork::Backoff& UvNetwork::note_failure(const Key& key) {
  Instant t = now();
  auto it = backoff_.find(key);
  if (it == backoff_.end()) {
    if (backoff_.size() >= options_.backoff_peers_max) {
      // Forget the peers whose delay has passed (they lose only their doubling), else the first.
      std::erase_if(backoff_, [t](const auto& entry) { return entry.second.retry_at <= t; });
      if (backoff_.size() >= options_.backoff_peers_max) backoff_.erase(backoff_.begin());
    }
    it = backoff_.emplace(key, Backoff{}).first;
  }
  Backoff& b = it->second;
  b.delay = b.delay == Duration::zero() ? options_.reconnect_backoff_min
                                        : std::min(b.delay * 2, options_.reconnect_backoff_max);
  // Jitter down by up to half, so peers that lost the same server do not come back in step.
  b.retry_at = t + rng_.between(b.delay / 2, b.delay);
  return b;
}

void UvNetwork::connect_failed(Connection& c, const std::string& reason) {
  ++stats_.connect_failures;
  Backoff& b = note_failure(c.key());
  // Peers retry every second while one is down: warn once, then keep it to debug.
  auto level = b.warned ? LogLevel::kDebug : LogLevel::kWarn;
  b.warned = true;
  if (logger_.enabled(level)) {
    logger_.log(level, topic(c.channel),
                fmt::format("{} connect to {} failed: {}; dropping {} queued frames; next try "
                            "in {}",
                            node::channel_name(c.channel), c.peer, reason, c.queued.size(),
                            b.retry_at - now()));
  }
  close_connection(c, "connect failed", false);
}

void UvNetwork::on_tcp_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  UvNetwork* net = c->net;
  if (c->closing) return;
  if (status < 0) {
    net->connect_failed(*c, uv_message(status));
    return;
  }
  net->backoff_.erase(c->key());
  c->connected = true;
  c->last_active = net->now();
  uv_tcp_nodelay(&c->tcp, 1);
  std::deque<Bytes> queued;
  queued.swap(c->queued);
  c->queued_bytes = 0;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_tcp_alloc, on_tcp_read);
  for (const auto& payload : queued) {
    if (c->closing) break;
    net->write_frame(*c, payload);
  }
}

void UvNetwork::on_tcp_accept(uv_stream_t* stream, int status) {
  auto* l = static_cast<TcpListener*>(stream->data);
  UvNetwork* net = l->net;
  if (status < 0) {
    net->logger_.warn(topic(l->channel), "accept on {} failed: {}", l->bound, uv_message(status));
    return;
  }
  // Decided before the new connection counts itself. Beyond the cap the connection is still
  // accepted, so that it leaves the backlog, and closed at once.
  bool over_cap = is_stream(l->channel) && net->stream_cap_reached();
  bool over_dns_cap = is_dns(l->channel) && net->dns_cap_reached();
  Connection* c = net->new_connection(l->channel, node::Endpoint{}, true);
  int rc = uv_accept(stream, reinterpret_cast<uv_stream_t*>(&c->tcp));
  auto peer = rc == 0 ? tcp_peer_endpoint(&c->tcp) : Result<node::Endpoint>(node::Endpoint{});
  if (rc != 0 || !peer || net->closing_) {
    net->close_connection(*c, "accept failed", false);
    return;
  }
  c->peer = *peer;
  if (over_cap) {
    net->log_over_stream_cap(c->peer, "accept a connection from");
    net->close_connection(*c, "over the stream connection limit", false);
    return;
  }
  if (over_dns_cap) {
    net->log_over_dns_cap(c->peer, "accept a connection from");
    net->close_connection(*c, "over the DNS connection limit", false);
    return;
  }
  // DNS clients are not counted per source IP: a resolver in front of the agents (dnsmasq, a
  // company BIND) is one IP speaking for many.
  if (!is_dns(c->channel)) {
    if (std::string refusal = net->admit_inbound(*c); !refusal.empty()) {
      (is_stream(c->channel) ? net->stream_refusals_ : net->rpc_refusals_).refused(refusal);
      net->close_connection(*c, "over a connection limit", false);
      return;
    }
  }
  c->connected = true;
  uv_tcp_nodelay(&c->tcp, 1);
  net->closed_inbound_.erase(c->key());  // the port number came round again
  net->by_key_[c->key()] = c;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_tcp_alloc, on_tcp_read);
}

void UvNetwork::on_tcp_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  auto& buffer = c->net->read_buffer_;
  *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
}

void UvNetwork::on_tcp_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  UvNetwork* net = c->net;
  if (c->closing) return;
  if (nread < 0) {
    // An orderly close (a peer done with a push/pull, or shutting down) is not a failure.
    bool eof = nread == UV_EOF;
    net->close_connection(*c, eof ? "closed by peer" : "read failed", !eof);
    return;
  }
  const ByteView data(reinterpret_cast<const std::uint8_t*>(buf->base),
                      static_cast<std::size_t>(nread));
  const bool dns = is_dns(c->channel);
  if (dns) {
    c->dns_decoder.feed(data);
  } else {
    c->decoder.feed(data);
  }
  while (!c->closing && !net->closing_) {
    auto frame = dns ? c->dns_decoder.next() : c->decoder.next();
    if (!frame) {
      ++(dns ? net->stats_.dns_bad_frames : net->stats_.bad_frames);
      // Anyone may connect to the DNS port: its garbage is not worth a warning.
      net->logger_.log(dns ? LogLevel::kDebug : LogLevel::kWarn, topic(c->channel),
                       fmt::format("bad {} frame from {}: {}; closing the connection",
                                   node::channel_name(c->channel), c->peer, frame.error().message));
      net->close_connection(*c, "bad frame", true);
      return;
    }
    if (!frame->has_value()) return;
    c->got_frame = true;
    c->last_active = net->now();
    net->handler_(c->peer, c->channel, std::move(**frame));
  }
}

void UvNetwork::close_connection(Connection& c, const char* why, bool failed) {
  if (c.closing) return;
  c.closing = true;
  if (failed && !c.inbound) note_failure(c.key());
  logger_.debug(topic(c.channel), "closing {} connection {} {}: {}", node::channel_name(c.channel),
                c.inbound ? "from" : "to", c.peer, why);
  auto it = by_key_.find(c.key());
  if (it != by_key_.end() && it->second == &c) by_key_.erase(it);
  if (c.inbound && c.connected) remember_closed_inbound(c.key());
  if (is_dns(c.channel)) --dns_connections_;
  if (is_stream(c.channel)) {
    --stream_connections_;
    if (stream_connections_ <= options_.stream_connections_max / 2) stream_cap_warned_ = false;
  }
  if (c.admitted) {
    c.admitted = false;
    auto& per_client = is_stream(c.channel) ? stream_per_client_ : rpc_per_client_;
    auto counted = per_client.find(c.peer.host);
    PRAETOR_ASSERT(counted != per_client.end());
    PRAETOR_ASSERT(counted->second > 0);
    if (--counted->second == 0) per_client.erase(counted);
    if (c.channel == node::Channel::kRpc) --rpc_inbound_;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), [](uv_handle_t* h) {
    auto* conn = static_cast<Connection*>(h->data);
    conn->net->connections_.erase(conn);
    delete conn;
  });
}

void UvNetwork::remember_closed_inbound(const Key& key) {
  if (!closed_inbound_.insert(key).second) return;
  closed_inbound_order_.push_back(key);
  while (closed_inbound_order_.size() > kClosedInboundRemembered) {
    closed_inbound_.erase(closed_inbound_order_.front());
    closed_inbound_order_.pop_front();
  }
}

std::string UvNetwork::admit_inbound(Connection& c) {
  PRAETOR_ASSERT(c.inbound);
  PRAETOR_ASSERT(!c.admitted);
  const bool stream = is_stream(c.channel);
  if (!stream && rpc_inbound_ >= options_.rpc_inbound_max) {
    ++stats_.rpc_over_cap;
    return fmt::format("refusing rpc connection from {}: {} inbound connections open (limit {})",
                       c.peer, rpc_inbound_, options_.rpc_inbound_max);
  }
  auto& per_client = stream ? stream_per_client_ : rpc_per_client_;
  const std::size_t per_client_max =
      stream ? options_.stream_inbound_per_client_max : options_.rpc_inbound_per_client_max;
  const auto it = per_client.find(c.peer.host);
  const std::size_t open = it == per_client.end() ? 0 : it->second;
  if (open >= per_client_max) {
    ++stats_.per_client_over_cap;
    return fmt::format("refusing {} connection from {}: {} connections open from {} ({} {})",
                       node::channel_name(c.channel), c.peer, open, c.peer.host,
                       stream ? "limit" : "limits.rpc_max_conns_per_client", per_client_max);
  }
  ++per_client[c.peer.host];
  if (!stream) ++rpc_inbound_;
  c.admitted = true;
  return {};
}

// --- Timeouts --------------------------------------------------------------------------------

// One timer serves every connection: it runs while any is open, at a quarter of the shorter
// timeout, so a connection outlives its timeout by at most a quarter of it.
void UvNetwork::arm_sweep() {
  if (closing_) return;
  auto* handle = reinterpret_cast<uv_handle_t*>(&sweep_timer_);
  if (!sweep_open_) {
    uv_timer_init(loop_, &sweep_timer_);
    sweep_timer_.data = this;
    sweep_open_ = true;
  }
  if (uv_is_active(handle)) return;
  Duration shortest = std::min({options_.stream_idle_timeout, options_.connect_timeout,
                                options_.rpc_first_frame_timeout, options_.rpc_idle_timeout,
                                options_.dns_tcp_idle_timeout});
  auto period = static_cast<std::uint64_t>(std::max<std::int64_t>(1, shortest.count_ms() / 4));
  uv_timer_start(&sweep_timer_, on_sweep, period, period);
}

void UvNetwork::on_sweep(uv_timer_t* timer) { static_cast<UvNetwork*>(timer->data)->sweep(); }

void UvNetwork::sweep() {
  ++stats_.sweeps;
  if (connections_.empty()) {
    uv_timer_stop(&sweep_timer_);
    return;
  }
  Instant t = now();
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* c : open) {
    if (c->closing) continue;
    if (!c->connected && !c->inbound && t - c->opened >= options_.connect_timeout) {
      // Closing the handle cancels the pending connect; its callback sees `closing` and returns.
      connect_failed(*c, fmt::format("no answer within {}", options_.connect_timeout));
    } else if (c->connected && is_stream(c->channel) &&
               t - c->last_active >= options_.stream_idle_timeout) {
      ++stats_.closed_idle;
      close_connection(*c, "idle", false);
    } else if (c->connected && is_dns(c->channel) &&
               t - c->last_active >= options_.dns_tcp_idle_timeout) {
      // Also a client trickling a message: last_active moves only on whole messages.
      ++stats_.closed_idle;
      close_connection(*c, "idle", false);
    } else if (c->connected && c->inbound && c->channel == node::Channel::kRpc) {
      // A connection that never sent a frame is not a server or agent of ours; one that did is
      // closed only after a silence far longer than Raft's heartbeats or a blocking query.
      if (!c->got_frame && t - c->opened >= options_.rpc_first_frame_timeout) {
        ++stats_.closed_no_first_frame;
        close_connection(*c, "no frame since accept", false);
      } else if (t - c->last_active >= options_.rpc_idle_timeout) {
        ++stats_.closed_idle;
        close_connection(*c, "idle", false);
      }
    }
  }
}

void UvNetwork::close() {
  if (closing_) return;
  closing_ = true;
  udp_to_flush_.clear();  // batched datagrams are dropped, like frames on a closing connection
  udp_.clear();
  dns_udp_.clear();
  dns_reply_via_.clear();
  for (Udp* u : udp_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&u->handle), [](uv_handle_t* h) {
      auto* udp = static_cast<Udp*>(h->data);
      udp->net->udp_open_.erase(udp);
      delete udp;
    });
  }
  for (TcpListener* l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), [](uv_handle_t* h) {
      auto* listener = static_cast<TcpListener*>(h->data);
      listener->net->listeners_.erase(listener);
      delete listener;
    });
  }
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* c : open) close_connection(*c, "shutting down", false);
  rpc_refusals_.close();
  stream_refusals_.close();
  dns_refusals_.close();
  if (flush_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&flush_prepare_),
             [](uv_handle_t* h) { static_cast<UvNetwork*>(h->data)->flush_open_ = false; });
  }
  if (sweep_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_),
             [](uv_handle_t* h) { static_cast<UvNetwork*>(h->data)->sweep_open_ = false; });
  }
}

}  // namespace praetor::io
