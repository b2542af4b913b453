// The gossip wire format (layout in codec.hpp). The Reader latches the first failure and every
// later read returns zero values, so decoders read straight through and check once at the end.
#include "core/gossip/codec.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/base/assert.hpp"

namespace praetor::gossip {
namespace {

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void str(std::string_view s) {
    PRAETOR_ASSERT(s.size() <= 0xFFFF);
    u16(static_cast<std::uint16_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void blob(ByteView b) {
    u32(static_cast<std::uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void address(const Address& a) {
    str(a.host);
    u16(a.port);
  }
  Bytes take() { return std::move(out_); }
  std::size_t size() const { return out_.size(); }
  Bytes& bytes() { return out_; }

 private:
  Bytes out_;
};

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  std::size_t remaining() const { return in_.size() - pos_; }
  void fail() { ok_ = false; }

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return in_[pos_++];
  }
  std::uint16_t u16() {
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  std::uint32_t u32() {
    const std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  std::uint64_t u64() {
    const std::uint64_t hi = u32();
    return (hi << 32) | u32();
  }
  std::string str(std::size_t max) {
    const std::size_t n = u16();
    if (n > max || !need(n)) return fail_with<std::string>();
    std::string s(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
                  in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return s;
  }
  std::string_view str_view(std::size_t max) {
    const std::size_t n = u16();
    if (n > max || !need(n)) return fail_with<std::string_view>();
    std::string_view s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  ByteView blob_view(std::size_t max) {
    const std::size_t n = u32();
    if (n > max || !need(n)) return fail_with<ByteView>();
    return view(n);
  }
  Bytes blob(std::size_t max) {
    const std::size_t n = u32();
    if (n > max || !need(n)) return fail_with<Bytes>();
    Bytes b(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
            in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return b;
  }
  ByteView view(std::size_t n) {
    if (!need(n)) return {};
    ByteView v = in_.subspan(pos_, n);
    pos_ += n;
    return v;
  }
  Address address() {
    Address a;
    a.host = str(kMaxHostBytes);
    a.port = u16();
    return a;
  }
  // A container count must fit in what is left, each element taking at least `min_element`.
  std::size_t count(std::size_t max, std::size_t min_element) {
    const std::size_t n = u32();
    if (n > max || n * min_element > remaining()) return fail_with<std::size_t>();
    return n;
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return false;
    }
    return true;
  }
  template <typename T>
  T fail_with() {
    ok_ = false;
    return T{};
  }
  ByteView in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

Error bad(std::string what) { return make_error(ErrorCode::kInvalidArgument, std::move(what)); }

MemberState member_state_from(std::uint8_t v, Reader& r) {
  if (v > static_cast<std::uint8_t>(MemberState::kLeft)) r.fail();
  return static_cast<MemberState>(v > 3 ? 0 : v);
}

// --- message bodies ---

void write_body(Writer& w, const Ping& m) {
  w.u32(m.seq);
  w.str(m.target);
}
void write_body(Writer& w, const IndirectPing& m) {
  w.u32(m.seq);
  w.str(m.target);
  w.address(m.target_address);
  w.u8(m.want_nack ? 1 : 0);
}
void write_body(Writer& w, const Ack& m) { w.u32(m.seq); }
void write_body(Writer& w, const Nack& m) { w.u32(m.seq); }
void write_body(Writer& w, const Suspect& m) {
  w.u32(m.incarnation.value());
  w.str(m.node);
  w.str(m.from);
}
void write_body(Writer& w, const Alive& m) {
  w.u32(m.incarnation.value());
  w.str(m.node);
  w.address(m.address);
  w.blob(m.meta);
}
void write_body(Writer& w, const Dead& m) {
  w.u32(m.incarnation.value());
  w.str(m.node);
  w.str(m.from);
}
void write_body(Writer& w, const UserMessage& m) { w.blob(m.payload); }
void write_body(Writer& w, const PushPull& m) {
  w.u8(static_cast<std::uint8_t>((m.join ? 1 : 0) | (m.response ? 2 : 0)));
  w.u32(static_cast<std::uint32_t>(m.nodes.size()));
  for (const PushNodeState& n : m.nodes) {
    w.str(n.name);
    w.address(n.address);
    w.blob(n.meta);
    w.u32(n.incarnation.value());
    w.u8(static_cast<std::uint8_t>(n.state));
  }
  w.blob(m.user_state);
}

MessageType type_of(const Message& m) {
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Ping>) return MessageType::kPing;
        if constexpr (std::is_same_v<T, IndirectPing>) return MessageType::kIndirectPing;
        if constexpr (std::is_same_v<T, Ack>) return MessageType::kAck;
        if constexpr (std::is_same_v<T, Nack>) return MessageType::kNack;
        if constexpr (std::is_same_v<T, Suspect>) return MessageType::kSuspect;
        if constexpr (std::is_same_v<T, Alive>) return MessageType::kAlive;
        if constexpr (std::is_same_v<T, Dead>) return MessageType::kDead;
        if constexpr (std::is_same_v<T, UserMessage>) return MessageType::kUser;
        if constexpr (std::is_same_v<T, PushPull>) return MessageType::kPushPull;
      },
      m);
}

PushNodeState read_push_node(Reader& r) {
  PushNodeState n;
  n.name = r.str(kMaxNameBytes);
  n.address = r.address();
  n.meta = r.blob(kMaxMetaBytes);
  n.incarnation = Incarnation(r.u32());
  n.state = member_state_from(r.u8(), r);
  return n;
}

// Smallest encoding of one PushNodeState: empty name, host, meta.
constexpr std::size_t kMinPushNodeBytes = kPushNodeFixedBytes;
static_assert(kPushNodeFixedBytes == 2 + 2 + 2 + 4 + 4 + 1);

Message read_body(MessageType type, Reader& r) {
  switch (type) {
    case MessageType::kPing:
      return Ping{r.u32(), r.str(kMaxNameBytes)};
    case MessageType::kIndirectPing: {
      IndirectPing m;
      m.seq = r.u32();
      m.target = r.str(kMaxNameBytes);
      m.target_address = r.address();
      const std::uint8_t nack = r.u8();
      if (nack > 1) r.fail();
      m.want_nack = nack == 1;
      return m;
    }
    case MessageType::kAck:
      return Ack{r.u32()};
    case MessageType::kNack:
      return Nack{r.u32()};
    case MessageType::kSuspect: {
      Suspect m;
      m.incarnation = Incarnation(r.u32());
      m.node = r.str(kMaxNameBytes);
      m.from = r.str(kMaxNameBytes);
      return m;
    }
    case MessageType::kAlive: {
      Alive m;
      m.incarnation = Incarnation(r.u32());
      m.node = r.str(kMaxNameBytes);
      m.address = r.address();
      m.meta = r.blob(kMaxMetaBytes);
      return m;
    }
    case MessageType::kDead: {
      Dead m;
      m.incarnation = Incarnation(r.u32());
      m.node = r.str(kMaxNameBytes);
      m.from = r.str(kMaxNameBytes);
      return m;
    }
    case MessageType::kUser:
      return UserMessage{r.blob(limits::kGossipMaxPacketBytes)};
    case MessageType::kPushPull: {
      PushPull m;
      const std::uint8_t flags = r.u8();
      if (flags > 3) r.fail();
      m.join = (flags & 1) != 0;
      m.response = (flags & 2) != 0;
      const std::size_t n = r.count(kMaxMembers, kMinPushNodeBytes);
      m.nodes.reserve(n);
      for (std::size_t i = 0; i < n && r.ok(); ++i) m.nodes.push_back(read_push_node(r));
      m.user_state = r.blob(kMaxUserStateBytes);
      return m;
    }
  }
  r.fail();
  return Ack{};
}

bool known_type(std::uint8_t t) {
  return t >= static_cast<std::uint8_t>(MessageType::kPing) &&
         t <= static_cast<std::uint8_t>(MessageType::kPushPull);
}

}  // namespace

Bytes encode_frame(const Message& message) {
  Writer w;
  w.u8(static_cast<std::uint8_t>(type_of(message)));
  w.u32(0);  // length, patched below
  std::visit([&w](const auto& m) { write_body(w, m); }, message);
  const std::size_t body = w.size() - kFrameOverheadBytes;
  Bytes out = w.take();
  for (int i = 0; i < 4; ++i) {
    out[1 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(body >> (24 - 8 * i));
  }
  return out;
}

Bytes begin_packet(std::size_t capacity) {
  Bytes out;
  out.reserve(std::max(capacity, kPacketHeaderBytes));
  out.assign({kPacketMagic, kWireVersion, 0, 0, 0, 0, 0});
  return out;
}

void finish_packet(Bytes& packet, std::size_t frame_count) {
  PRAETOR_ASSERT(packet.size() >= kPacketHeaderBytes);
  PRAETOR_ASSERT(frame_count > 0 && frame_count <= kMaxMessagesPerPacket);
  packet[6] = static_cast<std::uint8_t>(frame_count);
  const std::uint32_t crc = crc32c(ByteView(packet).subspan(6));
  for (int i = 0; i < 4; ++i) {
    packet[2 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  }
}

Bytes encode_packet(const std::vector<Bytes>& frames) {
  std::size_t size = kPacketHeaderBytes;
  for (const Bytes& f : frames) size += f.size();
  Bytes out = begin_packet(size);
  for (const Bytes& f : frames) out.insert(out.end(), f.begin(), f.end());
  finish_packet(out, frames.size());
  return out;
}

Result<std::vector<Message>> decode_packet(ByteView packet, std::size_t max_bytes,
                                           const AliveFilter* skip) {
  if (packet.size() > max_bytes) {
    return make_error(ErrorCode::kTooLarge, "gossip packet larger than the limit");
  }
  Reader r(packet);
  if (r.u8() != kPacketMagic) return bad("gossip packet: bad magic");
  if (r.u8() != kWireVersion) return bad("gossip packet: unknown version");
  const std::uint32_t crc = r.u32();
  if (!r.ok() || crc != crc32c(packet.subspan(6))) return bad("gossip packet: checksum mismatch");
  const std::size_t count = r.u8();
  if (count == 0) return bad("gossip packet: no messages");
  std::vector<Message> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t type = r.u8();
    const std::size_t length = r.u32();
    if (!r.ok() || !known_type(type)) return bad("gossip packet: bad frame header");
    if (length > r.remaining()) return bad("gossip packet: frame longer than packet");
    Reader body(r.view(length));
    if (skip != nullptr && static_cast<MessageType>(type) == MessageType::kAlive) {
      AliveView a;
      a.incarnation = Incarnation(body.u32());
      a.node = body.str_view(kMaxNameBytes);
      a.host = body.str_view(kMaxHostBytes);
      a.port = body.u16();
      a.meta = body.blob_view(kMaxMetaBytes);
      if (!body.done()) return bad("gossip packet: malformed message body");
      if (skip->known(a)) continue;
      out.push_back(Alive{a.incarnation, std::string(a.node), Address{std::string(a.host), a.port},
                          Bytes(a.meta.begin(), a.meta.end())});
      continue;
    }
    Message m = read_body(static_cast<MessageType>(type), body);
    if (!body.done()) return bad("gossip packet: malformed message body");
    out.push_back(std::move(m));
  }
  if (!r.done()) return bad("gossip packet: trailing bytes");
  return out;
}

Bytes encode_serf_message(const SerfMessage& message) {
  Writer w;
  std::visit(
      [&w](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, JoinIntent>) {
          w.u8(static_cast<std::uint8_t>(SerfMessageType::kJoinIntent));
          w.u64(m.ltime.value());
          w.str(m.node);
        } else if constexpr (std::is_same_v<T, LeaveIntent>) {
          w.u8(static_cast<std::uint8_t>(SerfMessageType::kLeaveIntent));
          w.u64(m.ltime.value());
          w.str(m.node);
        } else {
          w.u8(static_cast<std::uint8_t>(SerfMessageType::kUserEvent));
          w.u64(m.ltime.value());
          w.str(m.name);
          w.blob(m.payload);
        }
      },
      message);
  return w.take();
}

Result<SerfMessage> decode_serf_message(ByteView data) {
  Reader r(data);
  const std::uint8_t type = r.u8();
  SerfMessage out;
  switch (static_cast<SerfMessageType>(type)) {
    case SerfMessageType::kJoinIntent: {
      const LamportTime t(r.u64());
      out = JoinIntent{t, r.str(kMaxNameBytes)};
      break;
    }
    case SerfMessageType::kLeaveIntent: {
      const LamportTime t(r.u64());
      out = LeaveIntent{t, r.str(kMaxNameBytes)};
      break;
    }
    case SerfMessageType::kUserEvent: {
      UserEvent e;
      e.ltime = LamportTime(r.u64());
      e.name = r.str(kMaxNameBytes);
      e.payload = r.blob(limits::kGossipMaxPacketBytes);
      out = std::move(e);
      break;
    }
    default:
      return bad("serf message: unknown type");
  }
  if (!r.done()) return bad("serf message: malformed");
  return out;
}

Bytes encode_serf_state(const SerfState& state) {
  Writer w;
  w.u64(state.member_ltime.value());
  w.u64(state.event_ltime.value());
  w.u32(static_cast<std::uint32_t>(state.status_ltimes.size()));
  for (const auto& [name, ltime] : state.status_ltimes) {
    w.str(name);
    w.u64(ltime.value());
  }
  w.u32(static_cast<std::uint32_t>(state.left_members.size()));
  for (const std::string& name : state.left_members) w.str(name);
  w.u32(static_cast<std::uint32_t>(state.events.size()));
  for (const UserEvent& e : state.events) {
    w.u64(e.ltime.value());
    w.str(e.name);
    w.blob(e.payload);
  }
  return w.take();
}

Result<SerfState> decode_serf_state(ByteView data) {
  Reader r(data);
  SerfState s;
  s.member_ltime = LamportTime(r.u64());
  s.event_ltime = LamportTime(r.u64());
  const std::size_t n = r.count(kMaxMembers, 10);
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    std::string name = r.str(kMaxNameBytes);
    s.status_ltimes.emplace_back(std::move(name), LamportTime(r.u64()));
  }
  const std::size_t left = r.count(kMaxMembers, 2);
  for (std::size_t i = 0; i < left && r.ok(); ++i) s.left_members.push_back(r.str(kMaxNameBytes));
  const std::size_t events = r.count(kMaxStateEvents, 14);
  for (std::size_t i = 0; i < events && r.ok(); ++i) {
    UserEvent e;
    e.ltime = LamportTime(r.u64());
    e.name = r.str(kMaxNameBytes);
    e.payload = r.blob(limits::kGossipMaxPacketBytes);
    s.events.push_back(std::move(e));
  }
  if (!r.done()) return bad("serf state: malformed");
  return s;
}

Bytes encode_tags(const Tags& tags) {
  Writer w;
  w.u16(static_cast<std::uint16_t>(tags.size()));
  for (const auto& [k, v] : tags) {
    w.str(k);
    w.str(v);
  }
  return w.take();
}

Result<Tags> decode_tags(ByteView data) {
  if (data.empty()) return Tags{};
  if (data.size() > kMaxMetaBytes) return make_error(ErrorCode::kTooLarge, "tags too large");
  Reader r(data);
  Tags tags;
  const std::size_t n = r.u16();
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    std::string k = r.str(kMaxMetaBytes);
    std::string v = r.str(kMaxMetaBytes);
    if (r.ok()) tags[std::move(k)] = std::move(v);
  }
  if (!r.done()) return bad("tags: malformed");
  return tags;
}

}  // namespace praetor::gossip
