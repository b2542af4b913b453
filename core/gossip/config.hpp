// Configuration of the SWIM core and the Serf layer, with presets taken from memberlist's
// DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig and serf's DefaultConfig, plus the
// hard caps that keep every buffer bounded whatever peers send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/base/bytes.hpp"
#include "core/base/instant.hpp"
#include "core/base/limits.hpp"
#include "core/gossip/member.hpp"
#include "core/gossip/message.hpp"

namespace praetor::gossip {

// Hard caps (not tunable: they protect memory against hostile peers).
inline constexpr std::size_t kMaxNameBytes = 256;
inline constexpr std::size_t kMaxHostBytes = 64;
inline constexpr std::size_t kMaxMetaBytes = 512;        // memberlist MetaMaxSize
inline constexpr std::size_t kMaxMembers = 16384;        // members one node tracks
inline constexpr std::size_t kMaxStreamBytes = 4 << 20;  // one push/pull state
inline constexpr std::size_t kMaxUserStateBytes = 1 << 20;
inline constexpr std::size_t kMaxMessagesPerPacket = 255;
inline constexpr std::size_t kMaxBroadcastQueue = 4096;   // serf MaxQueueDepth
inline constexpr std::size_t kMaxPendingPushPulls = 128;  // memberlist maxPushPullRequests
inline constexpr std::size_t kMaxIndirectRelays = 256;
static_assert(kMaxMetaBytes + kMaxNameBytes + kMaxHostBytes + 64 < limits::kGossipMaxPacketBytes,
              "an alive message must fit in one packet");
static_assert(kMaxStreamBytes < limits::kRpcMaxFrameBytes, "a push/pull must fit in a frame");

struct Config {
  std::string name;  // unique in the pool; WAN members are "node.dc"
  Address address;   // where peers reach us
  Bytes meta;        // announced with our alive messages (Serf puts encoded tags here)

  Duration probe_interval = Duration::seconds(1);
  Duration probe_timeout = Duration::milliseconds(500);
  int indirect_checks = 3;
  int retransmit_mult = 4;
  int suspicion_mult = 4;
  int suspicion_max_timeout_mult = 6;
  Duration push_pull_interval = Duration::seconds(30);
  Duration stream_timeout = Duration::seconds(10);  // memberlist TCPTimeout
  int gossip_nodes = 3;
  Duration gossip_interval = Duration::milliseconds(200);
  Duration gossip_to_the_dead_time = Duration::seconds(30);
  Duration dead_node_reclaim_time = Duration::zero();  // 0: a name's address never changes
  int awareness_max_multiplier = 8;
  // memberlist's TCP ping (DisableTcpPings = false): when the direct ping times out, the probe
  // also pings the target over a stream, so lost datagrams alone do not make it suspect.
  bool tcp_pings = true;
  std::size_t max_packet_bytes = limits::kGossipMaxPacketBytes;
  // Where member identities are interned. Null: the Swim keeps a pool of its own. The
  // simulator hands all its nodes one pool (see IdentityPool).
  std::shared_ptr<IdentityPool> identities;

  static Config lan(std::string name, Address address);
  static Config wan(std::string name, Address address);
  // Fast timers for tests on one machine (memberlist DefaultLocalConfig).
  static Config local(std::string name, Address address);
};


struct SerfConfig {
  Config swim;
  Tags tags;
  Duration reap_interval = Duration::seconds(15);
  Duration reconnect_interval = Duration::seconds(30);
  Duration reconnect_timeout = Duration::hours(24);
  Duration tombstone_timeout = Duration::hours(24);
  Duration leave_propagate_delay = Duration::seconds(1);
  Duration recent_intent_timeout = Duration::minutes(5);
  std::size_t event_buffer_size = 512;  // user events remembered for de-duplication
  std::size_t max_user_event_bytes = 512;
  std::size_t max_recent_intents = 1024;

  static SerfConfig lan(std::string name, Address address);
  static SerfConfig wan(std::string name, Address address);
  static SerfConfig local(std::string name, Address address);
};

}  // namespace praetor::gossip
