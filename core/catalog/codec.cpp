// The catalog's only cereal user: command payloads and snapshots.
#include "core/base/codec.hpp"

#include <fmt/format.h>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "core/base/limits.hpp"
#include "core/catalog/command.hpp"
#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

constexpr std::uint16_t kCommandVersion = 1;
constexpr std::uint32_t kSnapshotMagic = 0x50524b56;  // "PRKV"
// 2: sessions follow the KV entries (sessions_section). Version 1 images (KV only) still load.
constexpr std::uint16_t kSnapshotVersion = 2;

template <typename Archive>
void bounded_key(Archive& ar, std::string& key) {
  codec::BoundedString b{key, limits::kKvMaxKeyBytes};
  ar(b);
}

template <typename Archive>
void bounded_value(Archive& ar, Bytes& value) {
  codec::BoundedBytes b{value, limits::kKvMaxValueBytes};
  ar(b);
}

// The body of each command, serialized field by field; one function serves load and save.
template <typename Archive>
void body(Archive&, Noop&) {}
template <typename Archive>
void body(Archive& ar, KvSet& c) {
  bounded_key(ar, c.key);
  bounded_value(ar, c.value);
  ar(c.flags);
}
template <typename Archive>
void body(Archive& ar, KvCas& c) {
  bounded_key(ar, c.key);
  bounded_value(ar, c.value);
  ar(c.flags, c.index);
}
template <typename Archive>
void body(Archive& ar, KvDelete& c) {
  bounded_key(ar, c.key);
}
template <typename Archive>
void body(Archive& ar, KvDeleteCas& c) {
  bounded_key(ar, c.key);
  ar(c.index);
}
template <typename Archive>
void body(Archive& ar, KvDeleteTree& c) {
  bounded_key(ar, c.prefix);
}

// Sessions, locks and transactions.
template <typename Archive>
void bounded_session_id(Archive& ar, std::string& id) {
  codec::BoundedString b{id, limits::kSessionMaxIdBytes};
  ar(b);
}
template <typename Archive>
void bounded_name(Archive& ar, std::string& s) {
  codec::BoundedString b{s, limits::kSessionMaxNameBytes};
  ar(b);
}
template <typename Archive>
void names(Archive& ar, std::vector<std::string>& list) {
  if constexpr (Archive::is_loading::value) {
    list.resize(codec::load_size(ar, limits::kSessionMaxChecks));
  } else {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(list.size())));
  }
  for (auto& s : list) bounded_name(ar, s);
}
// An enum on the wire is one byte checked against its largest value, like BoundedBool.
template <typename Archive, typename Enum>
void bounded_enum(Archive& ar, Enum& e, Enum max) {
  std::uint8_t v = static_cast<std::uint8_t>(e);
  ar(v);
  if (v > static_cast<std::uint8_t>(max)) throw codec::BoundError{"bad enum value"};
  e = static_cast<Enum>(v);
}
template <typename Archive>
void session_def(Archive& ar, SessionDef& d) {
  bounded_session_id(ar, d.id);
  bounded_name(ar, d.name);
  bounded_name(ar, d.node);
  names(ar, d.node_checks);
  names(ar, d.service_checks);
  ar(d.lock_delay_ns);
  bounded_enum(ar, d.behavior, SessionBehavior::kDelete);
  bounded_name(ar, d.ttl);
}
template <typename Archive>
void body(Archive& ar, SessionCreate& c) {
  session_def(ar, c.session);
}
template <typename Archive>
void body(Archive& ar, SessionDestroy& c) {
  bounded_session_id(ar, c.id);
}
template <typename Archive>
void body(Archive& ar, KvLock& c) {
  bounded_key(ar, c.key);
  bounded_value(ar, c.value);
  ar(c.flags);
  bounded_session_id(ar, c.session);
}
template <typename Archive>
void body(Archive& ar, KvUnlock& c) {
  bounded_key(ar, c.key);
  bounded_value(ar, c.value);
  ar(c.flags);
  bounded_session_id(ar, c.session);
}
template <typename Archive>
void body(Archive& ar, TxnOp& op) {
  bounded_enum(ar, op.verb, TxnVerb::kDeleteCas);
  bounded_key(ar, op.key);
  bounded_value(ar, op.value);
  ar(op.flags, op.index);
  bounded_session_id(ar, op.session);
}
template <typename Archive>
void body(Archive& ar, Txn& c) {
  if constexpr (Archive::is_loading::value) {
    c.ops.resize(codec::load_size(ar, limits::kTxnMaxOps));
  } else {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(c.ops.size())));
  }
  for (auto& op : c.ops) body(ar, op);
}

// The snapshot's sessions section: the table index, then each session with its indexes.
template <typename Archive>
void save_sessions_section(Archive& ar, const SessionTable& sessions) {
  ar(sessions.index());
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(sessions.all().size())));
  for (const auto& [id, e] : sessions.all()) {
    SessionEntry copy = e;
    session_def(ar, copy.def);
    ar(copy.create_index, copy.modify_index);
  }
}
template <typename Archive>
SessionTable load_sessions_section(Archive& ar) {
  std::uint64_t index = 0;
  ar(index);
  const std::size_t n = codec::load_size(ar, limits::kDecodeMaxContainer * 64);
  std::vector<SessionEntry> entries;
  for (std::size_t i = 0; i < n; ++i) {
    SessionEntry e;
    session_def(ar, e.def);
    ar(e.create_index, e.modify_index);
    entries.push_back(std::move(e));
  }
  auto table = SessionTable::from_entries(std::move(entries), index);
  if (!table) throw codec::BoundError{table.error().message};
  return std::move(table.value());
}

struct Fields {
  template <typename Archive, typename T>
  void operator()(Archive& ar, T& value) const {
    body(ar, value);
  }
};

template <typename T>
Result<Command> decode_body(ByteView rest) {
  return codec::decode_fields_as<Command, T, Fields>(rest, "catalog command");
}

struct SnapshotBox {
  const KvStore* source = nullptr;  // save
  KvStore loaded;                   // load
  std::uint64_t applied = 0;
  const SessionTable* sessions_source = nullptr;  // save
  SessionTable sessions_loaded;                   // load

  template <typename Archive>
  void save(Archive& ar) const {
    ar(kSnapshotMagic, kSnapshotVersion, applied, source->index());
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(source->entries().size())));
    for (const auto& [key, e] : source->entries()) {
      KvEntry copy = e;
      entry(ar, copy);
    }
    save_sessions_section(ar, *sessions_source);
  }

  template <typename Archive>
  void load(Archive& ar) {
    std::uint32_t magic = 0;
    std::uint16_t version = 0;
    std::uint64_t kv_index = 0;
    ar(magic, version, applied, kv_index);
    if (magic != kSnapshotMagic) throw codec::BoundError{"not a catalog snapshot"};
    if (version != kSnapshotVersion && version != 1) {
      throw codec::BoundError{"unknown snapshot version"};
    }
    const std::size_t n = codec::load_size(ar, limits::kDecodeMaxContainer * 64);
    std::vector<KvEntry> entries;
    for (std::size_t i = 0; i < n; ++i) {
      KvEntry e;
      entry(ar, e);
      entries.push_back(std::move(e));
    }
    auto restored = KvStore::from_entries(std::move(entries), kv_index);
    if (!restored) throw codec::BoundError{restored.error().message};
    loaded = std::move(restored.value());
    if (version >= 2) sessions_loaded = load_sessions_section(ar);
  }

  template <typename Archive>
  static void entry(Archive& ar, KvEntry& e) {
    bounded_key(ar, e.key);
    bounded_value(ar, e.value);
    ar(e.flags, e.create_index, e.modify_index, e.lock_index);
    codec::BoundedString s{e.session, limits::kSessionMaxIdBytes};
    ar(s);
  }
};

}  // namespace

CommandType command_type(const Command& command) {
  return std::visit(
      [](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Noop>) return CommandType::kNoop;
        if constexpr (std::is_same_v<T, KvSet>) return CommandType::kKvSet;
        if constexpr (std::is_same_v<T, KvCas>) return CommandType::kKvCas;
        if constexpr (std::is_same_v<T, KvDelete>) return CommandType::kKvDelete;
        if constexpr (std::is_same_v<T, KvDeleteCas>) return CommandType::kKvDeleteCas;
        if constexpr (std::is_same_v<T, KvDeleteTree>) return CommandType::kKvDeleteTree;
        if constexpr (std::is_same_v<T, SessionCreate>) return CommandType::kSessionCreate;
        if constexpr (std::is_same_v<T, SessionDestroy>) return CommandType::kSessionDestroy;
        if constexpr (std::is_same_v<T, KvLock>) return CommandType::kKvLock;
        if constexpr (std::is_same_v<T, KvUnlock>) return CommandType::kKvUnlock;
        if constexpr (std::is_same_v<T, Txn>) return CommandType::kTxn;
      },
      command);
}

// Header: [u8 CommandType][u16 version, little-endian], readable without cereal; then the body.
Bytes encode_command(const Command& command) {
  Bytes out;
  out.push_back(static_cast<std::uint8_t>(command_type(command)));
  out.push_back(static_cast<std::uint8_t>(kCommandVersion & 0xff));
  out.push_back(static_cast<std::uint8_t>(kCommandVersion >> 8));
  std::visit(
      [&](const auto& c) {
        Bytes body_bytes = codec::encode_fields<Fields>(c);
        out.insert(out.end(), body_bytes.begin(), body_bytes.end());
      },
      command);
  return out;
}

Result<Command> decode_command(ByteView payload) {
  if (payload.size() < 3) {
    return make_error(ErrorCode::kInvalidArgument, "catalog command: shorter than its header");
  }
  const std::uint16_t version = static_cast<std::uint16_t>(payload[1] | (payload[2] << 8));
  if (version != kCommandVersion) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("catalog command: unknown version {}", version));
  }
  const ByteView rest = payload.subspan(3);
  switch (static_cast<CommandType>(payload[0])) {
    case CommandType::kNoop: return decode_body<Noop>(rest);
    case CommandType::kKvSet: return decode_body<KvSet>(rest);
    case CommandType::kKvCas: return decode_body<KvCas>(rest);
    case CommandType::kKvDelete: return decode_body<KvDelete>(rest);
    case CommandType::kKvDeleteCas: return decode_body<KvDeleteCas>(rest);
    case CommandType::kKvDeleteTree: return decode_body<KvDeleteTree>(rest);
    case CommandType::kSessionCreate:
      return decode_body<SessionCreate>(rest);
    case CommandType::kSessionDestroy:
      return decode_body<SessionDestroy>(rest);
    case CommandType::kKvLock:
      return decode_body<KvLock>(rest);
    case CommandType::kKvUnlock:
      return decode_body<KvUnlock>(rest);
    case CommandType::kTxn:
      return decode_body<Txn>(rest);
  }
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("catalog command: unknown type {}", payload[0]));
}

Bytes Fsm::snapshot() const {
  SnapshotBox box;
  box.source = &kv_;
  box.applied = applied_.value();
  box.sessions_source = &sessions_;
  return codec::encode(box);
}

Result<void> Fsm::restore(ByteView data) {
  auto box = codec::decode<SnapshotBox>(data, "catalog snapshot");
  if (!box) return box.error();
  // A key may only name a live session; an image that breaks this is corrupt.
  for (const auto& [key, e] : box->loaded.entries()) {
    if (!e.session.empty() && box->sessions_loaded.get(e.session) == nullptr) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("catalog snapshot: key \"{}\" held by a missing session", key));
    }
  }
  kv_ = std::move(box->loaded);
  sessions_ = std::move(box->sessions_loaded);
  applied_ = LogIndex(box->applied);
  // lock_delays_ stays: it is this server's own, dated by its clock, and not in the image.
  return ok();
}

}  // namespace praetor::catalog
