// Fuzzes the server RPC frame decoder and, for Raft payloads, Raft's message decoder: anything
// a peer (or an attacker on port 8300) sends must be rejected or decoded, never crash.
#include <cstdint>

#include "core/node/rpc.hpp"
#include "core/raft/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace praetor;
  auto frame = node::decode_rpc(ByteView(data, size));
  if (!frame) return 0;
  if (const auto* raft = std::get_if<node::RaftPayload>(&*frame)) {
    auto message = raft::decode_message(raft->message);
    if (message) {
      auto again = raft::decode_message(raft::encode_message(*message));
      PRAETOR_ASSERT(again.has_value());
      PRAETOR_ASSERT(*again == *message);
    }
    return 0;
  }
  auto again = node::decode_rpc(node::encode_rpc(*frame));
  PRAETOR_ASSERT(again.has_value());
  PRAETOR_ASSERT(*again == *frame);
  return 0;
}
