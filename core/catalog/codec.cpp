// The catalog's only cereal user: command payloads and snapshots.
#include "core/base/codec.hpp"

#include <fmt/format.h>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "core/base/limits.hpp"
#include "core/catalog/archive.hpp"
#include "core/catalog/command.hpp"
#include "core/catalog/fsm.hpp"
#include "core/catalog/state.hpp"

namespace praetor::catalog {
namespace {

constexpr std::uint16_t kCommandVersion = 1;
constexpr std::uint32_t kSnapshotMagic = 0x50524b56;  // "PRKV"
// Version 2: KV entries, then the catalog of nodes, services and checks (save_catalog), then the
// sessions (sessions_section). Version 1 (KV only, written before either existed) still loads,
// so a data directory from then restores with an empty catalog and no sessions.
constexpr std::uint16_t kSnapshotVersion = 2;
constexpr std::uint16_t kSnapshotVersionKvOnly = 1;

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

// ---------------------------------------------------------------------------------------------
// The catalog of nodes, services and checks. Every string and container is bounded by the caps
// the HTTP API enforces before proposing (limits.hpp), so whatever was proposed decodes.

template <typename Archive>
void bounded(Archive& ar, std::string& s, std::size_t max) {
  codec::BoundedString b{s, max};
  ar(b);
}

template <typename Archive>
void bounded_map(Archive& ar, std::map<std::string, std::string>& map, std::size_t max_pairs,
                 std::size_t max_key, std::size_t max_value) {
  if constexpr (Archive::is_saving::value) {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(map.size())));
    for (const auto& [k, v] : map) {
      std::string key = k;
      std::string value = v;
      bounded(ar, key, max_key);
      bounded(ar, value, max_value);
    }
  } else {
    const std::size_t n = codec::load_size(ar, max_pairs);
    map.clear();
    for (std::size_t i = 0; i < n; ++i) {
      std::string key;
      std::string value;
      bounded(ar, key, max_key);
      bounded(ar, value, max_value);
      // One encoding per value: keys come sorted and unique, as a std::map writes them.
      if (!map.empty() && !(map.rbegin()->first < key)) {
        throw codec::BoundError{"map keys out of order"};
      }
      map.emplace(std::move(key), std::move(value));
    }
  }
}

template <typename Archive>
void bounded_strings(Archive& ar, std::vector<std::string>& list, std::size_t max_items,
                     std::size_t max_bytes) {
  std::size_t n = list.size();
  if constexpr (Archive::is_saving::value) {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(n)));
  } else {
    n = codec::load_size(ar, max_items);
    list.assign(n, std::string());
  }
  for (auto& item : list) bounded(ar, item, max_bytes);
}

template <typename Archive>
void health_status(Archive& ar, HealthStatus& status) {
  auto raw = static_cast<std::uint8_t>(status);
  ar(raw);
  if (raw > static_cast<std::uint8_t>(HealthStatus::kCritical)) {
    throw codec::BoundError{"bad health status " + std::to_string(raw)};
  }
  status = static_cast<HealthStatus>(raw);
}

template <typename Archive>
void body(Archive& ar, NodeDef& n) {
  using namespace limits;
  bounded(ar, n.id, kCatalogMaxNameBytes);
  bounded(ar, n.name, kCatalogMaxNameBytes);
  bounded(ar, n.address, kCatalogMaxAddressBytes);
  bounded(ar, n.datacenter, kCatalogMaxNameBytes);
  bounded_map(ar, n.tagged_addresses, kCatalogMaxMetaPairs, kCatalogMaxMetaKeyBytes,
              kCatalogMaxAddressBytes);
  bounded_map(ar, n.meta, kCatalogMaxMetaPairs, kCatalogMaxMetaKeyBytes, kCatalogMaxMetaValueBytes);
}
template <typename Archive>
void body(Archive& ar, ServiceDef& s) {
  using namespace limits;
  bounded(ar, s.id, kCatalogMaxNameBytes);
  bounded(ar, s.name, kCatalogMaxNameBytes);
  bounded_strings(ar, s.tags, kCatalogMaxTags, kCatalogMaxTagBytes);
  bounded(ar, s.address, kCatalogMaxAddressBytes);
  ar(s.port);
  bounded_map(ar, s.meta, kCatalogMaxMetaPairs, kCatalogMaxMetaKeyBytes, kCatalogMaxMetaValueBytes);
  ar(s.weight_passing, s.weight_warning);
  codec::BoundedBool b{s.enable_tag_override};
  ar(b);
}
template <typename Archive>
void body(Archive& ar, CheckDef& c) {
  using namespace limits;
  bounded(ar, c.node, kCatalogMaxNameBytes);
  bounded(ar, c.check_id, kCatalogMaxNameBytes);
  bounded(ar, c.name, kCatalogMaxNameBytes);
  health_status(ar, c.status);
  bounded(ar, c.notes, kCatalogMaxCheckTextBytes);
  bounded(ar, c.output, kCatalogMaxCheckTextBytes);
  bounded(ar, c.service_id, kCatalogMaxNameBytes);
  bounded(ar, c.type, kCatalogMaxNameBytes);
  bounded(ar, c.interval, kCatalogMaxNameBytes);
  bounded(ar, c.timeout, kCatalogMaxNameBytes);
}
template <typename Archive>
void body(Archive& ar, Register& c) {
  body(ar, c.node);
  bool has_service = c.service.has_value();
  codec::BoundedBool present{has_service};
  ar(present);
  if (has_service) {
    if (!c.service) c.service.emplace();
    body(ar, *c.service);
  }
  std::size_t n = c.checks.size();
  if constexpr (Archive::is_saving::value) {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(n)));
  } else {
    n = codec::load_size(ar, limits::kCatalogMaxChecksPerRegister);
    c.checks.assign(n, CheckDef{});
  }
  for (auto& check : c.checks) body(ar, check);
  codec::BoundedBool skip{c.skip_node_update};
  ar(skip);
}
template <typename Archive>
void body(Archive& ar, Deregister& c) {
  bounded(ar, c.node, limits::kCatalogMaxNameBytes);
  bounded(ar, c.service_id, limits::kCatalogMaxNameBytes);
  bounded(ar, c.check_id, limits::kCatalogMaxNameBytes);
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

// PUT /v1/snapshot: the state image as one bounded byte string.
template <typename Archive>
void body(Archive& ar, Restore& c) {
  codec::BoundedBytes b{c.state, limits::kSnapshotMaxStateBytes};
  ar(b);
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
  const CatalogState* catalog_source = nullptr;
  KvStore loaded;                   // load
  CatalogState catalog_loaded;
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
    save_catalog(ar);
    save_sessions_section(ar, *sessions_source);
  }

  // The catalog section (version 2): table indexes, then each table in key order, then the
  // per-service-name indexes. The derived name -> instances map is rebuilt on load.
  template <typename Archive>
  void save_catalog(Archive& ar) const {
    const CatalogState& c = *catalog_source;
    ar(c.nodes_index(), c.services_index(), c.checks_index());
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(c.node_table().size())));
    for (const auto& [name, n] : c.node_table()) {
      NodeRecord copy = n;
      node_record(ar, copy);
    }
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(c.service_table().size())));
    for (const auto& [key, s] : c.service_table()) {
      ServiceRecord copy = s;
      service_record(ar, copy);
    }
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(c.check_table().size())));
    for (const auto& [key, k] : c.check_table()) {
      CheckRecord copy = k;
      check_record(ar, copy);
    }
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(c.service_name_indexes().size())));
    for (const auto& [name, index] : c.service_name_indexes()) {
      std::string copy = name;
      bounded(ar, copy, limits::kCatalogMaxNameBytes);
      ar(index);
    }
  }

  template <typename Archive>
  void load_catalog(Archive& ar) {
    CatalogState::Tables t;
    ar(t.nodes_index, t.services_index, t.checks_index);
    const std::size_t max = limits::kDecodeMaxContainer * 64;
    for (std::size_t i = 0, n = codec::load_size(ar, max); i < n; ++i) {
      node_record(ar, t.nodes.emplace_back());
    }
    for (std::size_t i = 0, n = codec::load_size(ar, max); i < n; ++i) {
      service_record(ar, t.services.emplace_back());
    }
    for (std::size_t i = 0, n = codec::load_size(ar, max); i < n; ++i) {
      check_record(ar, t.checks.emplace_back());
    }
    for (std::size_t i = 0, n = codec::load_size(ar, max); i < n; ++i) {
      std::string name;
      std::uint64_t index = 0;
      bounded(ar, name, limits::kCatalogMaxNameBytes);
      ar(index);
      if (!t.service_name_indexes.emplace(std::move(name), index).second) {
        throw codec::BoundError{"duplicate service name index"};
      }
    }
    auto restored = CatalogState::from_tables(std::move(t));
    if (!restored) throw codec::BoundError{restored.error().message};
    catalog_loaded = std::move(restored.value());
  }

  template <typename Archive>
  static void node_record(Archive& ar, NodeRecord& r) {
    body(ar, r.def);
    ar(r.create_index, r.modify_index);
  }
  template <typename Archive>
  static void service_record(Archive& ar, ServiceRecord& r) {
    bounded(ar, r.node, limits::kCatalogMaxNameBytes);
    body(ar, r.def);
    ar(r.create_index, r.modify_index);
  }
  template <typename Archive>
  static void check_record(Archive& ar, CheckRecord& r) {
    body(ar, r.def);
    bounded(ar, r.service_name, limits::kCatalogMaxNameBytes);
    ar(r.create_index, r.modify_index);
  }

  template <typename Archive>
  void load(Archive& ar) {
    std::uint32_t magic = 0;
    std::uint16_t version = 0;
    std::uint64_t kv_index = 0;
    ar(magic, version, applied, kv_index);
    if (magic != kSnapshotMagic) throw codec::BoundError{"not a catalog snapshot"};
    if (version != kSnapshotVersion && version != kSnapshotVersionKvOnly) {
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
    if (version == kSnapshotVersion) {
      load_catalog(ar);
      sessions_loaded = load_sessions_section(ar);
    }
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
        if constexpr (std::is_same_v<T, Register>) return CommandType::kRegister;
        if constexpr (std::is_same_v<T, Deregister>) return CommandType::kDeregister;
        if constexpr (std::is_same_v<T, SessionCreate>) return CommandType::kSessionCreate;
        if constexpr (std::is_same_v<T, SessionDestroy>) return CommandType::kSessionDestroy;
        if constexpr (std::is_same_v<T, KvLock>) return CommandType::kKvLock;
        if constexpr (std::is_same_v<T, KvUnlock>) return CommandType::kKvUnlock;
        if constexpr (std::is_same_v<T, Txn>) return CommandType::kTxn;
        if constexpr (std::is_same_v<T, Restore>) return CommandType::kRestore;
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
    case CommandType::kRegister:
      return decode_body<Register>(rest);
    case CommandType::kDeregister:
      return decode_body<Deregister>(rest);
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
    case CommandType::kRestore:
      return decode_body<Restore>(rest);
  }
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("catalog command: unknown type {}", payload[0]));
}

Bytes Fsm::snapshot() const {
  SnapshotBox box;
  box.source = &kv_;
  box.catalog_source = &catalog_;
  box.applied = applied_.value();
  box.sessions_source = &sessions_;
  return codec::encode(box);
}

Result<Fsm::Image> Fsm::decode_image(ByteView data) {
  auto box = codec::decode<SnapshotBox>(data, "catalog snapshot");
  if (!box) return box.error();
  if (box->catalog_loaded.max_index() > box->applied) {
    return make_error(ErrorCode::kCorruption, "catalog snapshot: tables ahead of applied index");
  }
  // A key may only name a live session; an image that breaks this is corrupt.
  for (const auto& [key, e] : box->loaded.entries()) {
    if (!e.session.empty() && box->sessions_loaded.get(e.session) == nullptr) {
      return make_error(ErrorCode::kCorruption,
                        fmt::format("catalog snapshot: key \"{}\" held by a missing session", key));
    }
  }
  return Image{std::move(box->loaded), std::move(box->catalog_loaded),
               std::move(box->sessions_loaded), box->applied};
}

Result<void> Fsm::restore(ByteView data) {
  auto image = decode_image(data);
  if (!image) return image.error();
  kv_ = std::move(image->kv);
  catalog_ = std::move(image->catalog);
  sessions_ = std::move(image->sessions);
  applied_ = LogIndex(image->applied);
  // lock_delays_ stays: it is this server's own, dated by its clock, and not in the image.
  return ok();
}

// ---------------------------------------------------------------------------------------------
// `praetor snapshot inspect`: each record encoded on its own, as the image holds it.

namespace {

template <typename Fn>
struct SizeProbe {
  Fn* write = nullptr;
  template <typename Archive>
  void save(Archive& ar) const {
    (*write)(ar);
  }
  template <typename Archive>
  void load(Archive&) {}
};

template <typename Fn>
std::size_t encoded_size(Fn write) {
  return codec::encode(SizeProbe<Fn>{&write}).size();
}

}  // namespace

Result<std::vector<TableSummary>> summarize_state(ByteView state) {
  Fsm fsm;
  if (auto restored = fsm.restore(state); !restored) return restored.error();
  std::vector<TableSummary> out = {
      {"KV", 0, 0}, {"Node", 0, 0}, {"Service", 0, 0}, {"Check", 0, 0}, {"Session", 0, 0}};
  for (const auto& [key, e] : fsm.kv().entries()) {
    KvEntry copy = e;
    ++out[0].count;
    out[0].bytes += encoded_size([&](auto& ar) { SnapshotBox::entry(ar, copy); });
  }
  const CatalogState& c = fsm.catalog();
  for (const auto& [name, n] : c.node_table()) {
    NodeRecord copy = n;
    ++out[1].count;
    out[1].bytes += encoded_size([&](auto& ar) { SnapshotBox::node_record(ar, copy); });
  }
  for (const auto& [key, record] : c.service_table()) {
    ServiceRecord copy = record;
    ++out[2].count;
    out[2].bytes += encoded_size([&](auto& ar) { SnapshotBox::service_record(ar, copy); });
  }
  for (const auto& [key, k] : c.check_table()) {
    CheckRecord copy = k;
    ++out[3].count;
    out[3].bytes += encoded_size([&](auto& ar) { SnapshotBox::check_record(ar, copy); });
  }
  for (const auto& [id, e] : fsm.sessions().all()) {
    SessionEntry copy = e;
    ++out[4].count;
    out[4].bytes += encoded_size([&](auto& ar) {
      session_def(ar, copy.def);
      ar(copy.create_index, copy.modify_index);
    });
  }
  return out;
}

}  // namespace praetor::catalog
