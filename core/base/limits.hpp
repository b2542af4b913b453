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

// Blocking queries (Consul: default wait 5m, max 10m).
inline constexpr std::int64_t kBlockingWaitDefaultMs = 5 * 60 * 1000;
inline constexpr std::int64_t kBlockingWaitMaxMs = 10 * 60 * 1000;

// KV.
inline constexpr std::size_t kKvMaxKeyBytes = 8 * 1024;

// Server RPC frames: [u32 length][u32 crc32c][payload].
inline constexpr std::size_t kRpcMaxFrameBytes = 8 * 1024 * 1024;
static_assert(kRpcMaxFrameBytes > kHttpMaxBodyBytes, "a forwarded request must fit in a frame");

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
