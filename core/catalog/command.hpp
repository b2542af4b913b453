// The commands Raft replicates. A log entry's payload is [u8 CommandType][u16 version][cereal
// payload]; the FSM dispatches on the variant with one std::visit. Adding a command means adding a
// struct here, a CommandType, its codec case and its apply case — nothing registers globally.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"

namespace praetor::catalog {

enum class CommandType : std::uint8_t {
  kNoop = 0,
  kKvSet = 1,
  kKvCas = 2,
  kKvDelete = 3,
  kKvDeleteCas = 4,
  kKvDeleteTree = 5,
};

// A no-op: a new leader's first entry; it moves the applied index and nothing else.
struct Noop {
  friend bool operator==(const Noop&, const Noop&) = default;
};

struct KvSet {
  std::string key;
  Bytes value;  // empty is shown as null, as Consul does
  std::uint64_t flags = 0;
  friend bool operator==(const KvSet&, const KvSet&) = default;
};

// Check-and-set: index 0 means "create only if absent"; otherwise the key's ModifyIndex must
// equal index.
struct KvCas {
  std::string key;
  Bytes value;
  std::uint64_t flags = 0;
  std::uint64_t index = 0;
  friend bool operator==(const KvCas&, const KvCas&) = default;
};

struct KvDelete {
  std::string key;
  friend bool operator==(const KvDelete&, const KvDelete&) = default;
};

// Deletes only when the key's ModifyIndex equals index (index 0 never matches a live key).
struct KvDeleteCas {
  std::string key;
  std::uint64_t index = 0;
  friend bool operator==(const KvDeleteCas&, const KvDeleteCas&) = default;
};

// Deletes every key starting with prefix ("" deletes everything).
struct KvDeleteTree {
  std::string prefix;
  friend bool operator==(const KvDeleteTree&, const KvDeleteTree&) = default;
};

using Command = std::variant<Noop, KvSet, KvCas, KvDelete, KvDeleteCas, KvDeleteTree>;

CommandType command_type(const Command& command);

// The entry payload format. encode never fails; decode rejects unknown types, unknown versions,
// oversized fields and trailing bytes.
Bytes encode_command(const Command& command);
Result<Command> decode_command(ByteView payload);

}  // namespace praetor::catalog
