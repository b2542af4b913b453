// Wire and disk encodings of Raft's values: cereal portable binary, each prefixed by a format
// version. Decoders are bounded (every length is checked against a named cap and the input left)
// and return errors on any malformed input; they never crash or throw.
#pragma once

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"
#include "core/raft/message.hpp"
#include "core/raft/ready.hpp"

namespace praetor::raft {

inline constexpr std::uint16_t kCodecVersion = 1;

Bytes encode_message(const Message& message);
// Also rejects messages a correct peer never sends: unknown kinds, config entries whose payload
// is not a membership, entries over the caps.
Result<Message> decode_message(ByteView data);

Bytes encode_membership(const Membership& membership);
Result<Membership> decode_membership(ByteView data);

// For the storage layer: the hard state record, one log entry, snapshot metadata.
Bytes encode_hard_state(const HardState& state);
Result<HardState> decode_hard_state(ByteView data);
Bytes encode_entry(const Entry& entry);
Result<Entry> decode_entry(ByteView data);
Bytes encode_snapshot_meta(const SnapshotMeta& meta);
Result<SnapshotMeta> decode_snapshot_meta(ByteView data);

}  // namespace praetor::raft
