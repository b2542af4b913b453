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
  // 2 was Hello (server discovery before gossip); retired.
  kForwardRequest = 3,
  kForwardResponse = 4,
};

// A client request handed to another agent, and its answer: a client agent hands requests that
// need a server to one it learned through gossip; a follower hands requests that need the leader
// to the leader; a server hands requests naming another datacenter (`?dc=`) to a server there.
// A request is forwarded at most three times (client -> server -> remote server -> its leader).
struct ForwardRequest {
  std::uint64_t sender_nonce = 0;  // random per process: forward ids restart with the process
  std::uint64_t forward_id = 0;
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
  bool from_client = false;  // sent by a client agent: the server may forward it to the leader
  std::string origin_node;   // HttpRequest::origin_node
  // Sent by a server of another datacenter (`?dc=`): it may go on to this datacenter's leader,
  // never across the WAN again (a ?dc= naming neither datacenter answers "No path").
  bool from_wan = false;
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

using RpcFrame = std::variant<RaftPayload, ForwardRequest, ForwardResponse>;

Bytes encode_rpc(const RpcFrame& frame);
Result<RpcFrame> decode_rpc(ByteView payload);

}  // namespace praetor::node
