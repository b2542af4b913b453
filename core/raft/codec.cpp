// Raft's only cereal user. Every value is written field by field through one function per type
// (io() below) so that save and load cannot drift apart. Booleans and enums travel as u8 and are
// range-checked on load: loading a byte into a bool or enum directly would be undefined
// behaviour on garbage input.
#include "core/raft/codec.hpp"

#include "core/base/codec.hpp"
#include "core/raft/config.hpp"

namespace praetor::raft {
namespace {

using codec::BoundError;

template <typename Archive>
constexpr bool kLoading = std::is_base_of_v<cereal::detail::InputArchiveBase, Archive>;

template <typename Archive, typename Id>
void io_id(Archive& ar, Id& id) {
  auto v = id.value();
  ar(v);
  if constexpr (kLoading<Archive>) id = Id(v);
}

template <typename Archive>
void io_bool(Archive& ar, bool& b) {
  std::uint8_t v = b ? 1 : 0;
  ar(v);
  if constexpr (kLoading<Archive>) {
    if (v > 1) throw BoundError{"bad boolean"};
    b = v == 1;
  }
}

template <typename Archive>
void io_bytes(Archive& ar, Bytes& b, std::size_t max) {
  if constexpr (kLoading<Archive>) {
    cereal::size_type n = 0;
    ar(cereal::make_size_tag(n));
    if (n > max) throw BoundError{"byte string of " + std::to_string(n) + " exceeds limit"};
    b.resize(static_cast<std::size_t>(n));
  } else {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(b.size())));
  }
  ar(cereal::binary_data(b.data(), b.size()));
}

template <typename Archive>
void io_ids(Archive& ar, std::set<NodeId>& ids) {
  if constexpr (kLoading<Archive>) {
    const std::size_t n = codec::load_size(ar, kMaxMembers);
    ids.clear();
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t v = 0;
      ar(v);
      if (v == 0) throw BoundError{"node id 0 in membership"};
      // Sets are written in ascending order; accepting only that keeps one encoding per value.
      if (!ids.empty() && v <= ids.rbegin()->value()) throw BoundError{"node ids not ascending"};
      ids.insert(NodeId(v));
    }
  } else {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(ids.size())));
    for (NodeId id : ids) ar(id.value());
  }
}

template <typename Archive>
void io(Archive& ar, Membership& m) {
  io_ids(ar, m.voters);
  io_ids(ar, m.learners);
  if constexpr (kLoading<Archive>) {
    for (NodeId id : m.learners) {
      if (m.voters.count(id) != 0) throw BoundError{"node is both voter and learner"};
    }
  }
}

template <typename Archive>
void io(Archive& ar, Entry& e) {
  io_id(ar, e.term);
  io_id(ar, e.index);
  auto type = static_cast<std::uint8_t>(e.type);
  ar(type);
  if constexpr (kLoading<Archive>) {
    if (type > static_cast<std::uint8_t>(EntryType::kNoop)) throw BoundError{"bad entry type"};
    e.type = static_cast<EntryType>(type);
  }
  io_bytes(ar, e.data, kMaxEntryBytes);
}

template <typename Archive>
void io(Archive& ar, SnapshotMeta& s) {
  io_id(ar, s.index);
  io_id(ar, s.term);
  io(ar, s.membership);
}

template <typename Archive>
void io(Archive& ar, HardState& h) {
  io_id(ar, h.term);
  io_id(ar, h.vote);
  io_id(ar, h.commit);
}

template <typename Archive>
void io_entries(Archive& ar, std::vector<Entry>& entries) {
  if constexpr (kLoading<Archive>) {
    const std::size_t n = codec::load_size(ar, kMaxEntriesPerAppendCap);
    entries.clear();
    for (std::size_t i = 0; i < n; ++i) io(ar, entries.emplace_back());
  } else {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(entries.size())));
    for (Entry& e : entries) io(ar, e);
  }
}

template <typename Archive>
void io(Archive& ar, Message& m) {
  auto kind = static_cast<std::uint8_t>(m.kind);
  ar(kind);
  if constexpr (kLoading<Archive>) {
    if (kind == 0 || kind > kMessageKindMax) throw BoundError{"bad message kind"};
    m.kind = static_cast<MessageKind>(kind);
  }
  io_id(ar, m.from);
  io_id(ar, m.to);
  io_id(ar, m.term);
  io_id(ar, m.log_term);
  io_id(ar, m.index);
  io_entries(ar, m.entries);
  io_id(ar, m.commit);
  io_bool(ar, m.reject);
  io_id(ar, m.hint_index);
  io_id(ar, m.hint_term);
  io_bool(ar, m.transfer);
  ar(m.read_round);
  io(ar, m.snapshot);
  ar(m.offset);
  io_bytes(ar, m.chunk, kMaxSnapshotChunkBytesCap);
  io_bool(ar, m.done);
}

// A versioned envelope: [u16 version][value].
template <typename T>
struct Versioned {
  T value{};
  template <typename Archive>
  void save(Archive& ar) const {
    ar(kCodecVersion);
    io(ar, const_cast<T&>(value));  // io() only reads `value` when saving
  }
  template <typename Archive>
  void load(Archive& ar) {
    std::uint16_t version = 0;
    ar(version);
    if (version != kCodecVersion) {
      throw BoundError{"unsupported raft codec version " + std::to_string(version)};
    }
    io(ar, value);
  }
};

template <typename T>
Bytes encode_versioned(const T& value) {
  return codec::encode(Versioned<T>{value});
}

template <typename T>
Result<T> decode_versioned(ByteView data, std::string_view what) {
  auto r = codec::decode<Versioned<T>>(data, what);
  if (!r) return r.error();
  return std::move(r->value);
}

Result<void> validate(const Message& m) {
  for (const Entry& e : m.entries) {
    if (e.type == EntryType::kConfig && !decode_membership(e.data)) {
      return make_error(ErrorCode::kInvalidArgument, "raft message: bad config entry payload");
    }
  }
  for (std::size_t i = 0; i < m.entries.size(); ++i) {
    if (m.entries[i].index.value() != m.index.value() + 1 + i) {
      return make_error(ErrorCode::kInvalidArgument, "raft message: entries not contiguous");
    }
  }
  return ok();
}

}  // namespace

Bytes encode_message(const Message& message) { return encode_versioned(message); }

Result<Message> decode_message(ByteView data) {
  auto m = decode_versioned<Message>(data, "raft message");
  if (!m) return m;
  PRAETOR_TRY_VOID(validate(*m));
  return m;
}

Bytes encode_membership(const Membership& m) { return encode_versioned(m); }
Result<Membership> decode_membership(ByteView data) {
  return decode_versioned<Membership>(data, "raft membership");
}

Bytes encode_hard_state(const HardState& h) { return encode_versioned(h); }
Result<HardState> decode_hard_state(ByteView data) {
  return decode_versioned<HardState>(data, "raft hard state");
}

Bytes encode_entry(const Entry& e) { return encode_versioned(e); }
Result<Entry> decode_entry(ByteView data) { return decode_versioned<Entry>(data, "raft entry"); }

Bytes encode_snapshot_meta(const SnapshotMeta& s) { return encode_versioned(s); }
Result<SnapshotMeta> decode_snapshot_meta(ByteView data) {
  return decode_versioned<SnapshotMeta>(data, "raft snapshot meta");
}

}  // namespace praetor::raft
