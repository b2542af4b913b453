#include "core/node/rpc.hpp"

#include <fmt/format.h>

#include "core/base/codec.hpp"

namespace praetor::node {
namespace {

// Version 2: Hello retired (discovery is gossip's), ForwardRequest gained from_client.
// 3: a forwarded request carries the node it entered at. 4: ForwardRequest gained from_wan.
// Servers of one cluster (and of federated datacenters) run one version.
constexpr std::uint16_t kRpcVersion = 4;
constexpr std::size_t kMaxPairs = 256;

template <typename Archive>
void str(Archive& ar, std::string& s, std::size_t max) {
  codec::BoundedString b{s, max};
  ar(b);
}

template <typename Archive>
void pairs(Archive& ar, std::vector<std::pair<std::string, std::string>>& v) {
  if constexpr (Archive::is_loading::value) {
    v.resize(codec::load_size(ar, kMaxPairs));
  } else {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(v.size())));
  }
  for (auto& [k, val] : v) {
    str(ar, k, limits::kHttpMaxHeaderBytes);
    str(ar, val, limits::kHttpMaxHeaderBytes);
  }
}

template <typename Archive>
void body(Archive& ar, ForwardRequest& f) {
  ar(f.sender_nonce, f.forward_id);
  str(ar, f.method, 16);
  str(ar, f.path, limits::kHttpMaxHeaderBytes);
  pairs(ar, f.query);
  str(ar, f.body, limits::kHttpMaxBodyBytes);
  str(ar, f.origin_node, limits::kCatalogMaxNameBytes);
  codec::BoundedBool from_client{f.from_client};
  codec::BoundedBool from_wan{f.from_wan};
  ar(from_client, from_wan);
}

template <typename Archive>
void body(Archive& ar, ForwardResponse& f) {
  ar(f.forward_id, f.status);
  pairs(ar, f.headers);
  str(ar, f.body, limits::kRpcMaxFrameBytes - 64 * 1024);
}

struct Fields {
  template <typename Archive, typename T>
  void operator()(Archive& ar, T& value) const {
    body(ar, value);
  }
};

template <typename T>
Result<RpcFrame> decode_body(ByteView rest) {
  return codec::decode_fields_as<RpcFrame, T, Fields>(rest, "rpc frame");
}

RpcKind kind_of(const RpcFrame& frame) {
  switch (frame.index()) {
    case 0: return RpcKind::kRaft;
    case 1: return RpcKind::kForwardRequest;
    default: return RpcKind::kForwardResponse;
  }
}

}  // namespace

Bytes encode_rpc(const RpcFrame& frame) {
  // Built by push_back rather than an initializer list: g++ 12 at -O2 misreads the later
  // insert into a 3-byte vector as an out-of-bounds memcpy (-Warray-bounds).
  Bytes out;
  out.reserve(64);
  out.push_back(static_cast<std::uint8_t>(kind_of(frame)));
  out.push_back(static_cast<std::uint8_t>(kRpcVersion & 0xff));
  out.push_back(static_cast<std::uint8_t>(kRpcVersion >> 8));
  if (const auto* raft = std::get_if<RaftPayload>(&frame)) {
    out.insert(out.end(), raft->message.begin(), raft->message.end());
    return out;
  }
  std::visit(
      [&](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (!std::is_same_v<T, RaftPayload>) {
          Bytes b = codec::encode_fields<Fields>(f);
          out.insert(out.end(), b.begin(), b.end());
        }
      },
      frame);
  return out;
}

Result<RpcFrame> decode_rpc(ByteView payload) {
  if (payload.size() < 3) return make_error(ErrorCode::kInvalidArgument, "rpc frame: too short");
  const auto version = static_cast<std::uint16_t>(payload[1] | (payload[2] << 8));
  if (version != kRpcVersion) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("rpc frame: unknown version {}", version));
  }
  ByteView rest = payload.subspan(3);
  switch (static_cast<RpcKind>(payload[0])) {
    case RpcKind::kRaft: return RpcFrame(RaftPayload{Bytes(rest.begin(), rest.end())});
    case RpcKind::kForwardRequest: return decode_body<ForwardRequest>(rest);
    case RpcKind::kForwardResponse: return decode_body<ForwardResponse>(rest);
  }
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("rpc frame: unknown kind {}", payload[0]));
}

}  // namespace praetor::node
