// Server RPC frames (Channel::kRpc, port 8300). The host frames and checksums them on TCP; this
// is their payload: [u8 RpcKind][u16 version LE][body]. Raft messages carry raft::encode_message
// bytes as their body; the others are cereal portable binary, decoded through bounded helpers.
// A frame that does not decode is dropped and logged; it never reaches Raft or the catalog.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"
#include "core/node/http.hpp"

namespace praetor::node {

enum class RpcKind : std::uint8_t {
  kRaft = 1,
  kHello = 2,
  kForwardRequest = 3,
  kForwardResponse = 4,
};

// What a server tells the servers it meets: who it is and whom it knows. Servers exchange these
// on join (start_join / retry_join addresses) and pass on what they learn, so bootstrap_expect
// sees the whole set; gossip replaces this discovery later.
struct ServerInfo {
  std::string name;
  std::string node_id;      // UUID
  std::string datacenter;
  std::string address;      // "ip:port" of its server RPC
  std::uint64_t raft_id = 0;
  std::uint32_t bootstrap_expect = 0;
  bool bootstrapped = false;  // has Raft state (persisted or bootstrapped)
  friend bool operator==(const ServerInfo&, const ServerInfo&) = default;
};

struct Hello {
  ServerInfo self;
  std::vector<ServerInfo> known;
  bool reply = false;  // a reply is not answered again
  friend bool operator==(const Hello&, const Hello&) = default;
};

// A client request a follower hands to the leader, and the leader's answer.
struct ForwardRequest {
  std::uint64_t sender_nonce = 0;  // random per process: forward ids restart with the process
  std::uint64_t forward_id = 0;
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
  friend bool operator==(const ForwardRequest&, const ForwardRequest&) = default;
};

struct ForwardResponse {
  std::uint64_t forward_id = 0;
  std::int32_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  friend bool operator==(const ForwardResponse&, const ForwardResponse&) = default;
};

struct RaftPayload {
  Bytes message;  // raft::encode_message
  friend bool operator==(const RaftPayload&, const RaftPayload&) = default;
};

using RpcFrame = std::variant<RaftPayload, Hello, ForwardRequest, ForwardResponse>;

Bytes encode_rpc(const RpcFrame& frame);
Result<RpcFrame> decode_rpc(ByteView payload);

}  // namespace praetor::node
