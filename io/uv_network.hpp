// UvNetwork: node::Network on libuv. Gossip and DNS ride UDP datagrams; server RPC (kRpc) and the
// gossip push/pull streams (kGossipLanStream, kGossipWanStream) ride TCP connections carrying
// checksummed frames (io/rpc_frame.hpp), one frame per send.
//
// TCP connections are cached by (channel, remote endpoint), inbound and outbound alike, so RPC and
// gossip streams never share a connection, and a reply sent to the `from` of a received frame goes
// back over the connection the frame came in on (for an inbound connection `from` is the sender's
// ephemeral port, not its listener; once that connection has closed, frames to it are dropped,
// never sent by connecting to that port). A frame is delivered with its connection's channel: an
// accepted connection has its listener's channel, an outbound one the channel it was opened for.
//
// An outbound connection is opened on the first send to a (channel, endpoint) and reopened on a
// later send after it closes; frames sent while it connects wait in a bounded queue. After a failed
// connect, a connect that timed out, or an outbound connection that broke (a read or write error, a
// bad frame; not an orderly close by the peer), that (channel, endpoint) is in backoff: no connect
// is tried and frames sent to it are dropped (and counted) until a delay has passed. The delay
// starts at reconnect_backoff_min, doubles on each further failure up to reconnect_backoff_max,
// is jittered down by up to half, and is forgotten after a successful connect. The first failure
// to reach a peer is a warning; repeats are debug lines until it has been reached again.
//
// Bounds: every frame <= limits::kRpcMaxFrameBytes. Per connection, queued bytes (frames waiting
// to connect or to drain into the kernel) <= the channel's *_queued_bytes_max; beyond it frames
// are dropped. Stream connections (both stream channels, inbound and outbound) <=
// stream_connections_max: an accept beyond it is closed at once, a send that needs one more is
// dropped. A stream connection that has not sent or received a whole frame for
// stream_idle_timeout is closed (push/pull is one exchange, and a peer trickling bytes does not
// hold its frame buffer open). An outbound connect not completed within connect_timeout fails.
//
// Inbound connections, against a peer that opens many (issue 10): inbound RPC connections <=
// rpc_inbound_max; inbound connections from one source IP <= rpc_inbound_per_client_max on the
// RPC listener and <= stream_inbound_per_client_max on the stream listeners. A connection over a
// cap is closed at once, and the refusals are logged at most once a second (RefusalLog). An
// inbound RPC connection that delivers no whole frame within rpc_first_frame_timeout of accept is
// closed; after that, one with no frame in either direction for rpc_idle_timeout. Raft's
// connections carry heartbeats every 100 ms-1 s and a forwarded blocking query waits at most
// about 11 minutes, so neither timeout closes a connection a server or client agent is using.
// Outbound connections are ours and are never closed for idleness.
// Delivery is best effort: frames are dropped when a connection fails or a queue is full, and a
// bad frame closes the connection that carried it.
//
// DNS (issue 13). kDns is UDP: the socket bound for it receives queries (and recursors' answers)
// and sends every kDns datagram, so an answer leaves from the address and port the client asked;
// with several DNS sockets (several client addresses) a datagram to a peer leaves from the socket
// that peer's latest datagram arrived on. The DNS socket asks the kernel for a receive buffer of
// dns_udp_buffer_bytes and reads up to 20 datagrams per recvmmsg() call. Datagrams sent on a
// bound DNS socket wait for the end of the loop iteration (a uv_prepare handle, which runs before
// the loop polls again, so nothing waits longer than the current iteration) and leave together
// with sendmmsg(); what the kernel does not take at once goes to libuv's queue. The payload
// vectors of sent datagrams are reused for received ones, so the steady state allocates nothing
// per packet here. (dns_udp_batch_sends false: uv_udp_try_send per datagram instead.) A DNS
// datagram shorter than a DNS header (12 bytes) is dropped and counted. kDnsStream is
// TCP with RFC 1035's 2-byte length prefix instead of the RPC frame header (io/dns_frame.hpp): a
// frame is one whole message, replies go back over the connection the query came in on, in the
// order sent. DNS connections (both directions) <= dns_tcp_connections_max (an accept beyond it is
// closed at once, refusals logged at most once a second); one with no whole message in either
// direction for dns_tcp_idle_timeout is closed; a length prefix below a DNS header's 12 bytes
// closes the connection; replies beyond dns_tcp_queued_bytes_max waiting on one connection (a
// client that pipelines and never reads) are dropped. DNS is a public-facing port: its refusals and
// bad frames are debug lines and counters, never warnings per packet.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/base/instant.hpp"
#include "core/base/log.hpp"
#include "core/base/rng.hpp"
#include "core/node/env.hpp"
#include "io/rpc_frame.hpp"
#include "io/timed_refusal_log.hpp"

namespace praetor::io {

struct NetworkOptions {
  // Open stream connections (kGossipLanStream and kGossipWanStream together, both directions).
  std::size_t stream_connections_max = limits::kStreamMaxConnections;
  // Inbound stream connections from one source IP.
  std::size_t stream_inbound_per_client_max = limits::kStreamMaxConnsPerClient;
  // Inbound RPC connections in all, and from one source IP (Consul's rpc_max_conns_per_client).
  std::size_t rpc_inbound_max = limits::kRpcMaxInboundConnections;
  std::size_t rpc_inbound_per_client_max = limits::kRpcMaxConnsPerClient;
  // An inbound RPC connection must deliver a whole frame within this long of accept...
  Duration rpc_first_frame_timeout = Duration::milliseconds(limits::kRpcFirstFrameTimeoutMs);
  // ... and is closed after this long with no frame in either direction.
  Duration rpc_idle_timeout = Duration::milliseconds(limits::kRpcIdleTimeoutMs);
  // A stream connection with no frame sent or received for this long is closed.
  Duration stream_idle_timeout = Duration::seconds(30);
  // An outbound TCP connect (any channel) not completed within this long fails (and backs off).
  Duration connect_timeout = Duration::seconds(10);
  // Bytes (frame headers included) waiting on one connection, to connect or to drain.
  std::size_t rpc_queued_bytes_max = 64 * 1024 * 1024;
  std::size_t stream_queued_bytes_max = 2 * (limits::kRpcMaxFrameBytes + kRpcFrameHeaderBytes);
  Duration reconnect_backoff_min = Duration::milliseconds(100);
  Duration reconnect_backoff_max = Duration::seconds(5);
  // Peers remembered in backoff; beyond it the entries whose delay has passed are forgotten first.
  std::size_t backoff_peers_max = 4096;
  // DNS over TCP: open connections, the silence after which one is closed, and the replies'
  // bytes (prefixes included) that may wait on one connection.
  std::size_t dns_tcp_connections_max = limits::kDnsTcpMaxConnections;
  Duration dns_tcp_idle_timeout = Duration::milliseconds(limits::kDnsTcpIdleTimeoutMs);
  std::size_t dns_tcp_queued_bytes_max = 4 * (limits::kDnsTcpMaxBytes + 2);
  // SO_RCVBUF and SO_SNDBUF asked for the DNS UDP socket (the kernel may grant less; 0 leaves
  // the system default), so a burst of queries waits in the kernel rather than being dropped.
  std::size_t dns_udp_buffer_bytes = 8 * 1024 * 1024;
  // Send the DNS socket's datagrams of one loop iteration with one sendmmsg() call.
  bool dns_udp_batch_sends = true;
  std::uint64_t seed = 1;          // the backoff jitter's Rng
  std::function<Instant()> clock;  // empty: libuv's monotonic clock (tests pass a manual one)
};

// Counters since construction; read them on the loop thread.
struct NetworkStats {
  std::uint64_t connect_attempts = 0;    // outbound TCP connects started
  std::uint64_t connect_failures = 0;    // ... that failed or timed out
  std::uint64_t dropped_in_backoff = 0;  // frames dropped because their peer was in backoff
  std::uint64_t dropped_queue_full = 0;  // frames dropped because their connection was backed up
  std::uint64_t stream_over_cap = 0;     // accepts closed and sends dropped at the stream cap
  std::uint64_t rpc_over_cap = 0;        // inbound RPC connections closed at rpc_inbound_max
  std::uint64_t per_client_over_cap = 0;    // inbound connections closed at a per-IP cap
  std::uint64_t closed_no_first_frame = 0;  // inbound RPC connections silent since accept
  std::uint64_t closed_idle = 0;         // stream and inbound RPC connections closed for idleness
  std::uint64_t bad_frames = 0;          // connections closed for a bad frame
  std::uint64_t dropped_closed_inbound = 0;  // replies to an inbound connection that had closed
  std::uint64_t sweeps = 0;                  // idle/connect-timeout sweeps run
  std::uint64_t dns_tcp_over_cap = 0;        // DNS TCP accepts closed and sends dropped at the cap
  std::uint64_t dns_bad_frames = 0;          // DNS TCP connections closed for a bad length prefix
  std::uint64_t udp_queued_sends = 0;        // datagrams the kernel did not take at once (queued)
  std::uint64_t udp_send_failures = 0;       // datagrams dropped on a send error
  std::uint64_t udp_batches = 0;             // sendmmsg() calls for batched DNS datagrams
  std::uint64_t dns_short_datagrams = 0;     // DNS datagrams shorter than a header, dropped
};

class UvNetwork final : public node::Network {
 public:
  using FrameHandler =
      std::function<void(const node::Endpoint& from, node::Channel channel, Bytes payload)>;

  UvNetwork(uv_loop_t* loop, Logger& logger, FrameHandler handler, NetworkOptions options = {});
  ~UvNetwork() override;
  UvNetwork(const UvNetwork&) = delete;
  UvNetwork& operator=(const UvNetwork&) = delete;

  // UDP for kGossipLan, kGossipWan and kDns; a TCP listener for kRpc, kGossipLanStream,
  // kGossipWanStream and kDnsStream (a stream listener may share its port number with the UDP
  // socket of its protocol). kDns may be bound on several addresses, the others once. Returns the
  // bound address; an address in use is an error naming the channel and the address.
  Result<node::Endpoint> listen(node::Channel channel, const node::Endpoint& at);
  void send(const node::Endpoint& to, node::Channel channel, Bytes payload) override;

  void close();
  bool closed() const {
    return udp_open_.empty() && listeners_.empty() && connections_.empty() && !sweep_open_ &&
           !flush_open_ && rpc_refusals_.closed() && stream_refusals_.closed() &&
           dns_refusals_.closed();
  }
  // Open TCP connections (inbound and outbound, connecting included) on a channel; for tests.
  std::size_t connection_count(node::Channel channel) const;
  std::size_t rpc_connection_count() const { return connection_count(node::Channel::kRpc); }
  const NetworkStats& stats() const { return stats_; }
  // Inbound connections refused at a cap and logged (rate-limited), per listener kind.
  const RefusalLog& rpc_refusals() const { return rpc_refusals_.log(); }
  const RefusalLog& stream_refusals() const { return stream_refusals_.log(); }
  const RefusalLog& dns_refusals() const { return dns_refusals_.log(); }
  // The DNS UDP sockets' buffer sizes as the kernel granted them (the first socket's); 0 when
  // none is bound.
  std::size_t dns_udp_recv_buffer_bytes() const { return dns_udp_recv_buffer_; }

 private:
  struct Udp;
  struct TcpListener;
  struct Connection;
  struct UdpSend;
  struct TcpWrite;
  struct Backoff {
    Duration delay = Duration::zero();
    Instant retry_at;
    bool warned = false;
  };
  using Key = std::pair<node::Channel, node::Endpoint>;

  Instant now() const;
  Result<node::Endpoint> listen_udp(node::Channel channel, const node::Endpoint& at);
  Result<node::Endpoint> listen_tcp(node::Channel channel, const node::Endpoint& at);
  void send_udp(const node::Endpoint& to, node::Channel channel, Bytes payload);
  void send_tcp(const node::Endpoint& to, node::Channel channel, Bytes payload);
  Udp* udp_for(node::Channel channel);
  Udp* dns_udp_for(const node::Endpoint& to);
  // Queues a datagram on libuv's send queue (sent when the socket is writable).
  void queue_udp_send(Udp& u, const sockaddr* to, Bytes payload);
  void flush_udp();
  static void on_flush(uv_prepare_t* prepare);
  void tune_dns_socket(Udp& u);
  Bytes take_buffer();
  void recycle(Bytes&& buffer);
  Connection* new_connection(node::Channel channel, const node::Endpoint& peer, bool inbound);
  Connection* open_connection(node::Channel channel, const node::Endpoint& to);
  void write_frame(Connection& c, const Bytes& payload);
  // `failed`: the close counts against the peer (backoff) when the connection is outbound.
  void close_connection(Connection& c, const char* why, bool failed);
  void connect_failed(Connection& c, const std::string& reason);
  // Starts or lengthens the backoff of a (channel, peer) whose connection failed.
  Backoff& note_failure(const Key& key);
  bool stream_cap_reached() const;
  bool dns_cap_reached() const;
  void log_over_dns_cap(const node::Endpoint& peer, const char* what);
  void log_over_stream_cap(const node::Endpoint& peer, const char* what);
  void remember_closed_inbound(const Key& key);
  // Counts an accepted connection against the inbound caps; returns why it is refused, or "".
  std::string admit_inbound(Connection& c);
  void arm_sweep();
  void sweep();

  static void on_udp_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_udp_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                          const sockaddr* addr, unsigned flags);
  static void on_tcp_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_tcp_accept(uv_stream_t* stream, int status);
  static void on_tcp_connect(uv_connect_t* req, int status);
  static void on_tcp_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_tcp_write(uv_write_t* req, int status);
  static void on_sweep(uv_timer_t* timer);

  uv_loop_t* loop_;
  Logger& logger_;
  FrameHandler handler_;
  NetworkOptions options_;
  Rng rng_;
  NetworkStats stats_;
  std::map<node::Channel, Udp*> udp_;  // the socket each UDP channel sends from
  std::vector<Udp*> dns_udp_;          // every kDns socket (udp_[kDns] is the first)
  std::set<Udp*> udp_open_;            // every UDP handle not yet closed
  // With several kDns sockets: the socket each peer's latest datagram arrived on (bounded).
  std::map<node::Endpoint, Udp*> dns_reply_via_;
  std::vector<Bytes> spare_buffers_;  // sent datagrams' vectors, reused for received ones
  std::size_t dns_udp_recv_buffer_ = 0;
  std::set<TcpListener*> listeners_;
  std::set<Connection*> connections_;     // every open connection
  std::map<Key, Connection*> by_key_;     // the one used to send to a (channel, peer)
  std::map<Key, Backoff> backoff_;        // peers whose last connection failed
  std::set<Key> closed_inbound_;          // recently closed inbound connections, bounded
  std::deque<Key> closed_inbound_order_;  // ... oldest first
  std::size_t stream_connections_ = 0;    // open stream connections (not yet closing)
  std::size_t dns_connections_ = 0;       // open DNS TCP connections (not yet closing)
  bool stream_cap_warned_ = false;
  std::size_t rpc_inbound_ = 0;                           // admitted inbound RPC connections
  std::map<std::string, std::size_t> rpc_per_client_;     // source IP -> admitted inbound RPC
  std::map<std::string, std::size_t> stream_per_client_;  // source IP -> admitted inbound streams
  TimedRefusalLog rpc_refusals_;  // inbound connections refused at a cap, rate-limited
  TimedRefusalLog stream_refusals_;
  TimedRefusalLog dns_refusals_;
  uv_timer_t sweep_timer_{};
  bool sweep_open_ = false;
  uv_prepare_t flush_prepare_{};  // sends the batched DNS datagrams before the next poll
  bool flush_open_ = false;
  std::vector<Udp*> udp_to_flush_;  // sockets with batched datagrams
  std::vector<char> read_buffer_;  // TCP reads
  std::vector<char> udp_buffer_;   // UDP reads, several datagrams at once
  bool closing_ = false;
};

}  // namespace praetor::io
