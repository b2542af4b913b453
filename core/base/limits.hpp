// Every queue, batch, frame and buffer has a named cap here. Lengths are checked against these
// before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>

namespace praetor::limits {

// HTTP API.
inline constexpr std::size_t kHttpMaxHeaderBytes = 64 * 1024;
inline constexpr std::size_t kHttpMaxHeaders = 100;
inline constexpr std::size_t kKvMaxValueBytes = 512 * 1024;  // Consul's kv_max_value_size
inline constexpr std::size_t kHttpMaxBodyBytes = 4 * 1024 * 1024;  // txn bodies carry many values
inline constexpr std::size_t kHttpMaxConnections = 4096;
// Consul's limits.http_max_conns_per_client: one client IP cannot take every connection slot.
inline constexpr std::size_t kHttpMaxConnsPerClient = 200;
static_assert(kHttpMaxConnsPerClient < kHttpMaxConnections,
              "one client must not be able to fill the server");
// A chunk-size line with its extensions (Go's net/http bounds it at 4096 bytes too).
inline constexpr std::size_t kHttpMaxChunkLineBytes = 4096;
static_assert(kHttpMaxChunkLineBytes <= kHttpMaxHeaderBytes);
inline constexpr std::size_t kHttpMaxPendingRequests = 8192;  // parked blocking queries included
inline constexpr std::int64_t kHttpHeaderTimeoutMs = 10'000;
inline constexpr std::int64_t kHttpBodyTimeoutMs = 30'000;
inline constexpr std::int64_t kHttpIdleTimeoutMs = 90'000;
static_assert(kHttpHeaderTimeoutMs < kHttpIdleTimeoutMs,
              "a connection that has sent nothing gets less time than one that has been served");

// Warnings about refused connections and dropped frames: at most one line per interval.
inline constexpr std::int64_t kRefusalLogIntervalMs = 1000;

// Blocking queries (Consul: default wait 5m, max 10m).
inline constexpr std::int64_t kBlockingWaitDefaultMs = 5 * 60 * 1000;
inline constexpr std::int64_t kBlockingWaitMaxMs = 10 * 60 * 1000;

// KV.
inline constexpr std::size_t kKvMaxKeyBytes = 8 * 1024;

// The catalog of nodes, services and checks. Consul caps node and service metadata at 64 pairs,
// keys at 128 bytes and values at 512 bytes; the other caps are ours (Consul has none) and sit
// far above what any registration needs, so that an entry's size is bounded before it is
// proposed. The HTTP API refuses a registration over any of them before it reaches Raft: a
// committed entry over a cap could not be decoded, and that stops every replica.
inline constexpr std::size_t kCatalogMaxMetaPairs = 64;
inline constexpr std::size_t kCatalogMaxMetaKeyBytes = 128;
inline constexpr std::size_t kCatalogMaxMetaValueBytes = 512;
inline constexpr std::size_t kCatalogMaxNameBytes = 1024;  // node, service and check names, ids
inline constexpr std::size_t kCatalogMaxAddressBytes = 1024;
inline constexpr std::size_t kCatalogMaxTags = 256;
inline constexpr std::size_t kCatalogMaxTagBytes = 1024;
inline constexpr std::size_t kCatalogMaxChecksPerRegister = 256;
inline constexpr std::size_t kCatalogMaxCheckTextBytes = 64 * 1024;  // a check's notes, output
inline constexpr std::size_t kCatalogMaxRegisterBodyBytes = 1024 * 1024;
// Sessions and transactions. Session ids are UUIDs the leader picks (36 bytes); the bound on the
// other strings only keeps a hostile request from filling the log.
inline constexpr std::size_t kSessionMaxIdBytes = 64;
inline constexpr std::size_t kSessionMaxNameBytes = 1024;  // name, node, check ids, TTL text
inline constexpr std::size_t kSessionMaxChecks = 256;
inline constexpr std::size_t kTxnMaxOps = 64;  // Consul's default

// Snapshots (/v1/snapshot, decision D41). A restore is one Raft entry carrying the whole
// state image, so the image may be at most what an entry holds (raft::kMaxEntryBytes, 2 MiB)
// less room for the command's header and length prefix; saving refuses a larger state rather
// than hand out an archive that could never be restored.
inline constexpr std::size_t kSnapshotMaxStateBytes = 2 * 1024 * 1024 - 64 * 1024;
static_assert(kSnapshotMaxStateBytes + 1024 < kHttpMaxBodyBytes, "an archive fits in a request");

// Server RPC frames: [u32 length][u32 crc32c][payload].
inline constexpr std::size_t kRpcMaxFrameBytes = 8 * 1024 * 1024;
static_assert(kRpcMaxFrameBytes > kHttpMaxBodyBytes, "a forwarded request must fit in a frame");

// Inbound TCP connections to the server RPC port (8300). Every client agent and server keeps
// one per server it talks to, so the global cap is set well above a large datacenter's agents;
// the per-IP cap is Consul's limits.rpc_max_conns_per_client default.
inline constexpr std::size_t kRpcMaxInboundConnections = 8192;
inline constexpr std::size_t kRpcMaxConnsPerClient = 100;
static_assert(kRpcMaxConnsPerClient < kRpcMaxInboundConnections,
              "one client must not be able to fill the server");
// An inbound RPC connection must deliver a whole frame within this long of accept (Consul's
// rpc_handshake_timeout is 5 s for the first byte).
inline constexpr std::int64_t kRpcFirstFrameTimeoutMs = 10'000;
// An inbound RPC connection with no frame in either direction for this long is closed. Raft
// heartbeats flow every 100 ms-1 s, but a client agent's connection may carry nothing while a
// forwarded blocking query waits (up to 10 min plus wait/16 of jitter), so the timeout is longer
// than the longest wait.
inline constexpr std::int64_t kRpcIdleTimeoutMs = 15 * 60 * 1000;
static_assert(kRpcIdleTimeoutMs > kBlockingWaitMaxMs + kBlockingWaitMaxMs / 16 + 60'000,
              "an idle close must not cut off the answer to a forwarded blocking query");
static_assert(kRpcFirstFrameTimeoutMs < kRpcIdleTimeoutMs);

// Gossip push/pull stream connections (both stream channels, both directions), and inbound ones
// from one source IP. A push/pull is one exchange; a peer has at most a few in flight.
inline constexpr std::size_t kStreamMaxConnections = 128;
inline constexpr std::size_t kStreamMaxConnsPerClient = 16;
static_assert(kStreamMaxConnsPerClient < kStreamMaxConnections,
              "one peer must not be able to take every stream slot");

// DNS over TCP at the host (io/): open connections (inbound and outbound together), and the
// silence (no whole message either way) after which one is closed. miekg/dns, under Consul,
// closes an idle connection after 8 s; NSD allows 100 connections by default.
inline constexpr std::size_t kDnsTcpMaxConnections = 256;
inline constexpr std::int64_t kDnsTcpIdleTimeoutMs = 8'000;

// Frames (RPC, gossip, DNS) received but not yet handed to the process: the host's task queue
// drops frames beyond these (UvHost::post_frame); storage completions and timers are never
// dropped.
inline constexpr std::size_t kHostMaxQueuedFrames = 65'536;
inline constexpr std::size_t kHostMaxQueuedFrameBytes = 256 * 1024 * 1024;
static_assert(kHostMaxQueuedFrameBytes >= 8 * kRpcMaxFrameBytes,
              "several of the largest frames must fit in the queue at once");

// DNS.
inline constexpr std::size_t kDnsUdpMinBytes = 512;
inline constexpr std::size_t kDnsUdpMaxBytes = 4096;
inline constexpr std::size_t kDnsTcpMaxBytes = 65535;

// Gossip packets (memberlist's UDP buffer).
inline constexpr std::size_t kGossipMaxPacketBytes = 1400;

// Config files.
inline constexpr std::size_t kConfigMaxFileBytes = 16 * 1024 * 1024;

// Bounded decode of containers from untrusted bytes.
inline constexpr std::size_t kDecodeMaxContainer = 1 << 20;

// Check output (Consul's output_max_size default).
inline constexpr std::size_t kCheckOutputMaxBytes = 4096;

}  // namespace praetor::limits
