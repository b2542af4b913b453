#include "core/dns/message.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace praetor::dns {

namespace {

char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

Error formerr(std::string text) { return make_error(ErrorCode::kInvalidArgument, std::move(text)); }

std::uint16_t get16(ByteView b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
std::uint32_t get32(ByteView b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}

// Reads the name at `pos` and moves `pos` past it (past its first pointer, if it has one).
// `limit` is the offset every pointer must stay strictly below: the start of the label sequence
// being read. Each jump lowers it, so offsets strictly decrease and a loop is impossible.
Result<Name> read_name(ByteView b, std::size_t& pos) {
  Name name;
  std::size_t cur = pos;
  std::size_t limit = pos;
  std::size_t wire = 0;
  bool jumped = false;
  int hops = 0;
  for (;;) {
    if (cur >= b.size()) return formerr(fmt::format("name at offset {} runs past the end", pos));
    const std::uint8_t len = b[cur];
    if ((len & 0xC0) == 0xC0) {
      if (cur + 1 >= b.size()) {
        return formerr(fmt::format("compression pointer at offset {} is cut off", cur));
      }
      const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | b[cur + 1];
      if (target >= limit) {
        return formerr(fmt::format(
            "compression pointer at offset {} to offset {} does not point before offset {} "
            "(loop or forward pointer)",
            cur, target, limit));
      }
      if (++hops > kMaxPointerHops) {
        return formerr(fmt::format("name at offset {} follows more than {} compression pointers",
                                   pos, kMaxPointerHops));
      }
      if (!jumped) {
        pos = cur + 2;
        jumped = true;
      }
      cur = target;
      limit = target;
      continue;
    }
    if ((len & 0xC0) != 0) {
      return formerr(fmt::format(
          "label length byte 0x{:02x} at offset {}: longer than 63 octets (reserved label type)",
          len, cur));
    }
    wire += 1u + len;
    if (wire > kMaxNameWire) {
      return formerr(fmt::format("name at offset {} is longer than 255 octets", pos));
    }
    if (len == 0) {
      if (!jumped) pos = cur + 1;
      return name;
    }
    if (cur + 1 + len > b.size()) {
      return formerr(fmt::format("label at offset {} runs past the end", cur));
    }
    name.labels.emplace_back(reinterpret_cast<const char*>(b.data() + cur + 1), len);
    cur += 1u + len;
  }
}

const char* section_name(int section) {
  switch (section) {
    case 0:
      return "answer";
    case 1:
      return "authority";
    default:
      return "additional";
  }
}

Result<Rdata> read_rdata(ByteView b, std::size_t start, std::size_t end, std::uint16_t rrtype) {
  const std::size_t rdlen = end - start;
  auto exact = [&](std::size_t p, const char* what) -> Result<void> {
    if (p != end) {
      return formerr(fmt::format("{} rdata at offset {} uses {} octets but RDLENGTH is {}", what,
                                 start, p - start, rdlen));
    }
    return ok();
  };
  switch (rrtype) {
    case type::kA: {
      if (rdlen != 4) return formerr(fmt::format("A record RDLENGTH {} (must be 4)", rdlen));
      RdataA a;
      for (std::size_t i = 0; i < 4; ++i) a.address[i] = b[start + i];
      return Rdata(a);
    }
    case type::kAaaa: {
      if (rdlen != 16) return formerr(fmt::format("AAAA record RDLENGTH {} (must be 16)", rdlen));
      RdataAaaa a;
      for (std::size_t i = 0; i < 16; ++i) a.address[i] = b[start + i];
      return Rdata(a);
    }
    case type::kNs:
    case type::kCname:
    case type::kPtr: {
      std::size_t p = start;
      auto n = read_name(b, p);
      if (!n) return n.error();
      PRAETOR_TRY_VOID(exact(p, "NS/CNAME/PTR"));
      return Rdata(RdataName{std::move(*n)});
    }
    case type::kSoa: {
      std::size_t p = start;
      auto m = read_name(b, p);
      if (!m) return m.error();
      auto r = read_name(b, p);
      if (!r) return r.error();
      if (p + 20 > end) return formerr(fmt::format("SOA rdata at offset {} is cut off", start));
      RdataSoa soa{std::move(*m),   std::move(*r),    get32(b, p),     get32(b, p + 4),
                   get32(b, p + 8), get32(b, p + 12), get32(b, p + 16)};
      PRAETOR_TRY_VOID(exact(p + 20, "SOA"));
      return Rdata(std::move(soa));
    }
    case type::kSrv: {
      if (rdlen < 7) return formerr(fmt::format("SRV record RDLENGTH {} is too short", rdlen));
      RdataSrv srv;
      srv.priority = get16(b, start);
      srv.weight = get16(b, start + 2);
      srv.port = get16(b, start + 4);
      std::size_t p = start + 6;
      auto n = read_name(b, p);
      if (!n) return n.error();
      srv.target = std::move(*n);
      PRAETOR_TRY_VOID(exact(p, "SRV"));
      return Rdata(std::move(srv));
    }
    case type::kTxt: {
      if (rdlen == 0) return formerr("TXT record with no character-strings");
      RdataTxt txt;
      std::size_t p = start;
      while (p < end) {
        const std::size_t len = b[p];
        if (p + 1 + len > end) {
          return formerr(fmt::format("TXT string at offset {} runs past RDLENGTH", p));
        }
        txt.strings.emplace_back(reinterpret_cast<const char*>(b.data() + p + 1), len);
        p += 1 + len;
      }
      return Rdata(std::move(txt));
    }
    default:
      return Rdata(RdataOpaque{Bytes(b.begin() + static_cast<std::ptrdiff_t>(start),
                                     b.begin() + static_cast<std::ptrdiff_t>(end))});
  }
}

Result<Edns> read_opt(ByteView b, std::size_t start, std::size_t end, std::uint16_t rrclass,
                      std::uint32_t ttl) {
  Edns e;
  e.udp_payload = rrclass;
  e.ext_rcode = static_cast<std::uint8_t>(ttl >> 24);
  e.version = static_cast<std::uint8_t>(ttl >> 16);
  e.do_bit = (ttl & 0x8000u) != 0;
  e.z = static_cast<std::uint16_t>(ttl & 0x7FFFu);
  std::size_t p = start;
  while (p < end) {
    if (p + 4 > end) return formerr(fmt::format("EDNS option at offset {} is cut off", p));
    EdnsOption o;
    o.code = get16(b, p);
    const std::size_t len = get16(b, p + 2);
    if (p + 4 + len > end) {
      return formerr(fmt::format("EDNS option {} at offset {} runs past RDLENGTH", o.code, p));
    }
    o.data.assign(b.begin() + static_cast<std::ptrdiff_t>(p + 4),
                  b.begin() + static_cast<std::ptrdiff_t>(p + 4 + len));
    e.options.push_back(std::move(o));
    p += 4 + len;
  }
  return e;
}

Header read_header(ByteView b) {
  Header h;
  h.id = get16(b, 0);
  const std::uint8_t f1 = b[2];
  const std::uint8_t f2 = b[3];
  h.qr = (f1 & 0x80) != 0;
  h.opcode = static_cast<std::uint8_t>((f1 >> 3) & 0x0F);
  h.aa = (f1 & 0x04) != 0;
  h.tc = (f1 & 0x02) != 0;
  h.rd = (f1 & 0x01) != 0;
  h.ra = (f2 & 0x80) != 0;
  h.z = (f2 & 0x40) != 0;
  h.ad = (f2 & 0x20) != 0;
  h.cd = (f2 & 0x10) != 0;
  h.rcode = static_cast<std::uint8_t>(f2 & 0x0F);
  return h;
}

}  // namespace

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_char(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  }
  return true;
}

bool names_iequal(const Name& a, const Name& b) {
  if (a.labels.size() != b.labels.size()) return false;
  for (std::size_t i = 0; i < a.labels.size(); ++i) {
    if (!iequals(a.labels[i], b.labels[i])) return false;
  }
  return true;
}

Name lowercase(const Name& n) {
  Name out;
  out.labels.reserve(n.labels.size());
  for (const auto& l : n.labels) out.labels.push_back(lowercase(l));
  return out;
}

std::size_t wire_length(const Name& n) {
  std::size_t total = 1;
  for (const auto& l : n.labels) total += 1 + l.size();
  return total;
}

std::string to_text(const Name& n) {
  if (n.labels.empty()) return ".";
  std::string out;
  for (const auto& l : n.labels) {
    for (char c : l) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '.' || c == '\\') {
        out += '\\';
        out += c;
      } else if (u <= 0x20 || u >= 0x7F) {
        out += fmt::format("\\{:03d}", u);
      } else {
        out += c;
      }
    }
    out += '.';
  }
  return out;
}

Name name_from_text(std::string_view text) {
  Name n;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  while (!text.empty()) {
    const auto dot = text.find('.');
    n.labels.emplace_back(text.substr(0, dot));
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  return n;
}

bool rdata_matches_type(std::uint16_t rrtype, const Rdata& rdata) {
  switch (rrtype) {
    case type::kA:
      return std::holds_alternative<RdataA>(rdata);
    case type::kAaaa:
      return std::holds_alternative<RdataAaaa>(rdata);
    case type::kNs:
    case type::kCname:
    case type::kPtr:
      return std::holds_alternative<RdataName>(rdata);
    case type::kSoa:
      return std::holds_alternative<RdataSoa>(rdata);
    case type::kTxt:
      return std::holds_alternative<RdataTxt>(rdata);
    case type::kSrv:
      return std::holds_alternative<RdataSrv>(rdata);
    case type::kOpt:
      return false;  // the OPT lives in Message::edns
    default:
      return std::holds_alternative<RdataOpaque>(rdata);
  }
}

std::optional<Header> peek_header(ByteView packet) {
  if (packet.size() < kHeaderBytes) return std::nullopt;
  return read_header(packet);
}

Result<Message> decode(ByteView b) {
  if (b.size() < kHeaderBytes) {
    return formerr(
        fmt::format("message of {} octets is shorter than the 12-octet header", b.size()));
  }
  if (b.size() > kMaxMessage) return formerr("message longer than 65535 octets");
  Message m;
  m.header = read_header(b);
  const std::size_t qd = get16(b, 4), an = get16(b, 6), ns = get16(b, 8), ar = get16(b, 10);
  // Every question takes at least 5 octets and every record 11 (root owner, type, class, TTL,
  // RDLENGTH): counts that cannot fit are refused before anything is reserved.
  const std::size_t need = qd * 5 + (an + ns + ar) * 11;
  if (need > b.size() - kHeaderBytes) {
    return formerr(fmt::format(
        "section counts (qd {}, an {}, ns {}, ar {}) need at least {} octets; {} remain", qd, an,
        ns, ar, need, b.size() - kHeaderBytes));
  }
  std::size_t pos = kHeaderBytes;
  m.questions.reserve(qd);
  for (std::size_t i = 0; i < qd; ++i) {
    auto n = read_name(b, pos);
    if (!n) return n.error();
    if (pos + 4 > b.size()) return formerr(fmt::format("question {} is cut off", i + 1));
    m.questions.push_back(Question{std::move(*n), get16(b, pos), get16(b, pos + 2)});
    pos += 4;
  }
  const std::size_t counts[3] = {an, ns, ar};
  std::vector<Record>* sections[3] = {&m.answers, &m.authority, &m.additional};
  for (int s = 0; s < 3; ++s) {
    sections[s]->reserve(counts[s]);
    for (std::size_t i = 0; i < counts[s]; ++i) {
      auto n = read_name(b, pos);
      if (!n) return n.error();
      if (pos + 10 > b.size()) {
        return formerr(fmt::format("{} record {} is cut off", section_name(s), i + 1));
      }
      const std::uint16_t rrtype = get16(b, pos);
      const std::uint16_t rrclass = get16(b, pos + 2);
      const std::uint32_t ttl = get32(b, pos + 4);
      const std::size_t rdlen = get16(b, pos + 8);
      const std::size_t start = pos + 10;
      if (start + rdlen > b.size()) {
        return formerr(fmt::format("{} record {}: RDLENGTH {} runs past the end of the message",
                                   section_name(s), i + 1, rdlen));
      }
      const std::size_t end = start + rdlen;
      if (rrtype == type::kOpt) {
        if (s != 2) return formerr(fmt::format("OPT record in the {} section", section_name(s)));
        if (m.edns) return formerr("more than one OPT record");
        if (!n->labels.empty()) return formerr("OPT record owner is not the root");
        auto e = read_opt(b, start, end, rrclass, ttl);
        if (!e) return e.error();
        m.edns = std::move(*e);
      } else {
        auto rd = read_rdata(b, start, end, rrtype);
        if (!rd) return rd.error();
        sections[s]->push_back(Record{std::move(*n), rrtype, rrclass, ttl, std::move(*rd)});
      }
      pos = end;
    }
  }
  if (pos != b.size()) {
    return formerr(fmt::format("{} octets after the last record", b.size() - pos));
  }
  return m;
}

namespace {

// Writes a message. Compression remembers every name suffix written (exact octets, so a pointer
// never changes the case a reader sees) at offsets a pointer can reach (< 0x4000): a small
// open-addressing table of (hash of the suffix, offset), each hit confirmed by walking the bytes
// already written, so encoding allocates no key strings. The log lets encode_fitting roll back a
// record that did not fit, forgetting the suffixes it added.
class Writer {
 public:
  explicit Writer(bool compress) : compress_(compress) { out_.reserve(512); }

  Bytes& out() { return out_; }
  std::size_t size() const { return out_.size(); }

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void put16(std::size_t at, std::uint16_t v) {
    out_[at] = static_cast<std::uint8_t>(v >> 8);
    out_[at + 1] = static_cast<std::uint8_t>(v);
  }

  void name(const Name& n, bool may_point) {
    PRAETOR_ASSERT_MSG(wire_length(n) <= kMaxNameWire, "name {} longer than 255 octets",
                       to_text(n));
    const std::size_t count = n.labels.size();
    // hashes[i]: the hash of the suffix starting at label i (at most 127 labels fit in 255).
    std::array<std::uint64_t, 128> hashes{};
    if (compress_) {
      std::uint64_t h = 0x9E3779B97F4A7C15ULL;
      for (std::size_t i = count; i-- > 0;) {
        h = fnv1a64(n.labels[i], h ^ (n.labels[i].size() * 0x100000001B3ULL));
        hashes[i] = h;
      }
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (compress_) {
        const auto found = find(hashes[i], n, i);
        if (found && may_point) {
          u16(static_cast<std::uint16_t>(0xC000u | *found));
          return;
        }
        if (!found && out_.size() < 0x4000) {
          insert(hashes[i], static_cast<std::uint16_t>(out_.size()));
          log_.emplace_back(hashes[i], static_cast<std::uint16_t>(out_.size()));
        }
      }
      const std::string& l = n.labels[i];
      PRAETOR_ASSERT_MSG(!l.empty() && l.size() <= kMaxLabel, "bad label length {} in {}", l.size(),
                         to_text(n));
      u8(static_cast<std::uint8_t>(l.size()));
      out_.insert(out_.end(), l.begin(), l.end());
    }
    u8(0);
  }

  // Forgets everything written at or after `mark`.
  void rollback(std::size_t mark) {
    out_.resize(mark);
    bool removed = false;
    while (!log_.empty() && log_.back().second >= mark) {
      log_.pop_back();
      removed = true;
    }
    if (removed) {
      // Rare (a few times per message at most): rebuild the table from what is left.
      std::fill(slots_.begin(), slots_.end(), Slot{});
      used_ = 0;
      for (const auto& [hash, offset] : log_) insert(hash, offset);
    }
  }

  void record(const Record& r) {
    PRAETOR_ASSERT_MSG(rdata_matches_type(r.rrtype, r.rdata), "rdata does not match type {}",
                       r.rrtype);
    name(r.name, true);
    u16(r.rrtype);
    u16(r.rrclass);
    u32(r.ttl);
    const std::size_t len_at = out_.size();
    u16(0);
    std::visit([&](const auto& rd) { rdata(r.rrtype, rd); }, r.rdata);
    const std::size_t len = out_.size() - len_at - 2;
    PRAETOR_ASSERT(len <= 0xFFFF);
    put16(len_at, static_cast<std::uint16_t>(len));
  }

  void opt(const Edns& e) {
    PRAETOR_ASSERT(e.z < 0x8000);
    u8(0);
    u16(type::kOpt);
    u16(e.udp_payload);
    u32((std::uint32_t{e.ext_rcode} << 24) | (std::uint32_t{e.version} << 16) |
        (e.do_bit ? 0x8000u : 0u) | e.z);
    const std::size_t len_at = out_.size();
    u16(0);
    for (const auto& o : e.options) {
      PRAETOR_ASSERT(o.data.size() <= 0xFFFF);
      u16(o.code);
      u16(static_cast<std::uint16_t>(o.data.size()));
      out_.insert(out_.end(), o.data.begin(), o.data.end());
    }
    const std::size_t len = out_.size() - len_at - 2;
    PRAETOR_ASSERT(len <= 0xFFFF);
    put16(len_at, static_cast<std::uint16_t>(len));
  }

 private:
  void rdata(std::uint16_t, const RdataOpaque& r) {
    out_.insert(out_.end(), r.data.begin(), r.data.end());
  }
  void rdata(std::uint16_t, const RdataA& r) {
    out_.insert(out_.end(), r.address.begin(), r.address.end());
  }
  void rdata(std::uint16_t, const RdataAaaa& r) {
    out_.insert(out_.end(), r.address.begin(), r.address.end());
  }
  // RFC 3597 §4: only the RFC 1035 types may carry compressed names in their rdata.
  void rdata(std::uint16_t, const RdataName& r) { name(r.name, true); }
  void rdata(std::uint16_t, const RdataSoa& r) {
    name(r.mname, true);
    name(r.rname, true);
    u32(r.serial);
    u32(r.refresh);
    u32(r.retry);
    u32(r.expire);
    u32(r.minimum);
  }
  void rdata(std::uint16_t, const RdataTxt& r) {
    PRAETOR_ASSERT(!r.strings.empty());
    for (const auto& s : r.strings) {
      PRAETOR_ASSERT(s.size() <= 255);
      u8(static_cast<std::uint8_t>(s.size()));
      out_.insert(out_.end(), s.begin(), s.end());
    }
  }
  // RFC 2782: the SRV target is never compressed.
  void rdata(std::uint16_t, const RdataSrv& r) {
    u16(r.priority);
    u16(r.weight);
    u16(r.port);
    name(r.target, false);
  }

  struct Slot {
    std::uint64_t hash = 0;
    std::uint16_t offset = 0;
    bool used = false;
  };

  // Whether the octets at `at` (following our own pointers) spell labels[from..] exactly.
  bool spells(std::size_t at, const Name& n, std::size_t from) const {
    std::size_t j = from;
    for (;;) {
      const std::uint8_t len = out_[at];
      if ((len & 0xC0) == 0xC0) {
        at = (std::size_t{len & 0x3Fu} << 8) | out_[at + 1];
        continue;
      }
      if (len == 0) return j == n.labels.size();
      if (j == n.labels.size() || n.labels[j].size() != len ||
          std::memcmp(out_.data() + at + 1, n.labels[j].data(), len) != 0) {
        return false;
      }
      ++j;
      at += 1u + len;
    }
  }

  std::optional<std::uint16_t> find(std::uint64_t hash, const Name& n, std::size_t from) const {
    if (slots_.empty()) return std::nullopt;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (!s.used) return std::nullopt;
      if (s.hash == hash && spells(s.offset, n, from)) return s.offset;
    }
  }

  void insert(std::uint64_t hash, std::uint16_t offset) {
    if ((used_ + 1) * 2 > slots_.size()) {
      // Grow (the load stays under one half, so probes stay short and always end).
      std::vector<Slot> old = std::move(slots_);
      slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
      used_ = 0;
      for (const auto& s : old) {
        if (s.used) insert(s.hash, s.offset);
      }
    }
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    while (slots_[i].used) i = (i + 1) & mask;
    slots_[i] = Slot{hash, offset, true};
    ++used_;
  }

  bool compress_;
  Bytes out_;
  std::vector<Slot> slots_;
  std::size_t used_ = 0;
  std::vector<std::pair<std::uint64_t, std::uint16_t>> log_;
};

void write_header(Writer& w, const Header& h) {
  w.u16(h.id);
  w.u8(static_cast<std::uint8_t>((h.qr ? 0x80 : 0) | ((h.opcode & 0x0F) << 3) | (h.aa ? 0x04 : 0) |
                                 (h.tc ? 0x02 : 0) | (h.rd ? 0x01 : 0)));
  w.u8(static_cast<std::uint8_t>((h.ra ? 0x80 : 0) | (h.z ? 0x40 : 0) | (h.ad ? 0x20 : 0) |
                                 (h.cd ? 0x10 : 0) | (h.rcode & 0x0F)));
  w.u16(0);
  w.u16(0);
  w.u16(0);
  w.u16(0);
}

std::size_t opt_size(const Edns& e) {
  std::size_t n = 11;
  for (const auto& o : e.options) n += 4 + o.data.size();
  return n;
}

std::uint16_t count16(std::size_t n) {
  PRAETOR_ASSERT_MSG(n <= 0xFFFF, "{} entries in one section", n);
  return static_cast<std::uint16_t>(n);
}

}  // namespace

Bytes encode(const Message& m, EncodeOptions options) {
  Writer w(options.compress);
  write_header(w, m.header);
  for (const auto& q : m.questions) {
    w.name(q.name, true);
    w.u16(q.qtype);
    w.u16(q.qclass);
  }
  for (const auto& r : m.answers) w.record(r);
  for (const auto& r : m.authority) w.record(r);
  for (const auto& r : m.additional) w.record(r);
  if (m.edns) w.opt(*m.edns);
  w.put16(4, count16(m.questions.size()));
  w.put16(6, count16(m.answers.size()));
  w.put16(8, count16(m.authority.size()));
  w.put16(10, count16(m.additional.size() + (m.edns ? 1 : 0)));
  return std::move(w.out());
}

Fitted encode_fitting(const Message& m, std::size_t max_size, bool set_tc, EncodeOptions options) {
  Writer w(options.compress);
  write_header(w, m.header);
  for (const auto& q : m.questions) {
    w.name(q.name, true);
    w.u16(q.qtype);
    w.u16(q.qclass);
  }
  // The OPT goes last, so its room is kept from the start.
  const std::size_t reserve = m.edns ? opt_size(*m.edns) : 0;
  const std::size_t budget = max_size > reserve ? max_size - reserve : 0;
  Fitted f;
  // Pointers only point backwards, so any prefix of the records is a valid message: a record
  // that does not fit is rolled back and everything after it dropped.
  auto fit = [&](const std::vector<Record>& records) {
    std::size_t kept = 0;
    for (const auto& r : records) {
      const std::size_t mark = w.size();
      w.record(r);
      if (w.size() > budget) {
        w.rollback(mark);
        break;
      }
      ++kept;
    }
    return kept;
  };
  f.answers_kept = fit(m.answers);
  std::size_t authority_kept = 0;
  if (f.answers_kept == m.answers.size()) {
    const std::size_t mark = w.size();
    authority_kept = fit(m.authority);
    if (authority_kept != m.authority.size()) {
      w.rollback(mark);  // the authority section goes whole or not at all
      authority_kept = 0;
    }
  }
  f.truncated = f.answers_kept != m.answers.size() || authority_kept != m.authority.size();
  if (!f.truncated) f.additional_kept = fit(m.additional);
  if (m.edns) w.opt(*m.edns);
  w.put16(4, count16(m.questions.size()));
  w.put16(6, count16(f.answers_kept));
  w.put16(8, count16(authority_kept));
  w.put16(10, count16(f.additional_kept + (m.edns ? 1 : 0)));
  if (f.truncated && set_tc) w.out()[2] |= 0x02;
  f.packet = std::move(w.out());
  return f;
}

}  // namespace praetor::dns
