// The DNS wire codec (RFC 1035, EDNS0 of RFC 6891): a message as plain data, a strict decoder and
// an encoder with name compression and size-bounded truncation. Pure; hand-written because it is
// the product (docs/decisions.md D2, D49).
//
// Strictness (every rule below is an error from decode(), answered FORMERR by the resolver):
//   - fewer than 12 bytes, or section counts that cannot fit in the bytes left (every question
//     takes at least 5 bytes, every record at least 11), so a hostile count never allocates;
//   - a label longer than 63 octets, the reserved label types 0x40 and 0x80, a name longer than
//     255 octets on the wire (length octets and the root included);
//   - a compression pointer that does not point strictly before the start of the label sequence
//     it is read from (so every jump goes backwards: no loops, no forward references), or more
//     than kMaxPointerHops pointers in one name;
//   - a record whose RDLENGTH runs past the message, or whose rdata of a known type (A, NS,
//     CNAME, SOA, PTR, TXT, AAAA, SRV, OPT) does not fill RDLENGTH exactly;
//   - an OPT record outside the additional section, a second OPT, or an OPT whose owner is not
//     the root (RFC 6891 §6.1.1, RFC 9267 §2);
//   - any byte after the last record (trailing garbage, D50).
// Work is linear in the packet: every name costs at most 255 octets plus kMaxPointerHops jumps.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/result.hpp"

namespace praetor::dns {

// Record types and classes we know by name; every other type is kept as opaque rdata.
namespace type {
inline constexpr std::uint16_t kA = 1, kNs = 2, kCname = 5, kSoa = 6, kPtr = 12, kMx = 15,
                               kTxt = 16, kAaaa = 28, kSrv = 33, kOpt = 41, kAny = 255;
}
namespace klass {
inline constexpr std::uint16_t kIn = 1, kChaos = 3, kAny = 255;
}
namespace rcode {
inline constexpr std::uint8_t kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3, kNotImp = 4,
                              kRefused = 5;
inline constexpr std::uint16_t kBadVers = 16;  // extended (needs EDNS): upper 8 bits in the OPT
}  // namespace rcode
namespace opcode {
inline constexpr std::uint8_t kQuery = 0;
}

inline constexpr std::size_t kHeaderBytes = 12;
inline constexpr std::size_t kMaxLabel = 63;
inline constexpr std::size_t kMaxNameWire = 255;
inline constexpr int kMaxPointerHops = 127;  // a name has at most 127 labels; more jumps is abuse
inline constexpr std::size_t kMaxMessage = 65535;

// A domain name as its labels, in the case they arrived or were written in. Labels are raw octets
// (a label may hold a '.' or any byte). The root is no labels.
struct Name {
  std::vector<std::string> labels;
  friend bool operator==(const Name&, const Name&) = default;  // exact, case-sensitive
};

// ASCII-only case folding, as DNS defines it (RFC 4343): bytes outside A-Z are left alone.
std::string lowercase(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool names_iequal(const Name& a, const Name& b);
Name lowercase(const Name& n);
// Octets the name takes uncompressed on the wire (length octets and the root's zero included).
std::size_t wire_length(const Name& n);
// "www.example.com." ('.' and bytes outside printable ASCII escaped as \DDD, the root is ".").
std::string to_text(const Name& n);
// Splits on '.', no escapes; a trailing '.' is optional; "" and "." are the root. For building
// names from configuration and tests; the labels are not checked here (encode() checks them).
Name name_from_text(std::string_view text);

struct Header {
  std::uint16_t id = 0;
  bool qr = false;
  std::uint8_t opcode = 0;  // 4 bits
  bool aa = false, tc = false, rd = false, ra = false;
  bool z = false;  // the reserved bit; kept so a decoded message re-encodes to itself
  bool ad = false, cd = false;
  std::uint8_t rcode = 0;  // the header's 4 bits; the upper 8 live in Edns::ext_rcode
  friend bool operator==(const Header&, const Header&) = default;
};

struct Question {
  Name name;
  std::uint16_t qtype = type::kA;
  std::uint16_t qclass = klass::kIn;
  friend bool operator==(const Question&, const Question&) = default;
};

struct RdataA {
  std::array<std::uint8_t, 4> address{};
  friend bool operator==(const RdataA&, const RdataA&) = default;
};
struct RdataAaaa {
  std::array<std::uint8_t, 16> address{};
  friend bool operator==(const RdataAaaa&, const RdataAaaa&) = default;
};
// NS, CNAME and PTR: one name (the record's type says which).
struct RdataName {
  Name name;
  friend bool operator==(const RdataName&, const RdataName&) = default;
};
struct RdataSoa {
  Name mname, rname;
  std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
  friend bool operator==(const RdataSoa&, const RdataSoa&) = default;
};
struct RdataTxt {
  std::vector<std::string> strings;  // each at most 255 octets
  friend bool operator==(const RdataTxt&, const RdataTxt&) = default;
};
struct RdataSrv {
  std::uint16_t priority = 0, weight = 0, port = 0;
  Name target;
  friend bool operator==(const RdataSrv&, const RdataSrv&) = default;
};
struct RdataOpaque {
  Bytes data;
  friend bool operator==(const RdataOpaque&, const RdataOpaque&) = default;
};
using Rdata = std::variant<RdataOpaque, RdataA, RdataAaaa, RdataName, RdataSoa, RdataTxt, RdataSrv>;

// The rdata shape a type decodes to (RdataOpaque for unknown types). encode() requires a record's
// rdata to have the shape of its type.
bool rdata_matches_type(std::uint16_t rrtype, const Rdata& rdata);

struct Record {
  Name name;
  std::uint16_t rrtype = type::kA;
  std::uint16_t rrclass = klass::kIn;
  std::uint32_t ttl = 0;
  Rdata rdata;
  friend bool operator==(const Record&, const Record&) = default;
};

struct EdnsOption {
  std::uint16_t code = 0;
  Bytes data;  // opaque (cookies, padding, client subnet...): kept, never interpreted
  friend bool operator==(const EdnsOption&, const EdnsOption&) = default;
};

// The OPT pseudo-record, lifted out of the additional section. encode() writes it last there.
struct Edns {
  std::uint16_t udp_payload = 512;  // the OPT's CLASS
  std::uint8_t ext_rcode = 0;       // upper 8 bits of the 12-bit rcode
  std::uint8_t version = 0;
  bool do_bit = false;
  std::uint16_t z = 0;  // the 15 flag bits after DO
  std::vector<EdnsOption> options;
  friend bool operator==(const Edns&, const Edns&) = default;
};

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<Record> answers, authority, additional;  // additional without the OPT
  std::optional<Edns> edns;
  friend bool operator==(const Message&, const Message&) = default;
};

Result<Message> decode(ByteView packet);

// The header of a packet decode() refused, so a FORMERR can echo its id, opcode and RD. nullopt
// when there are fewer than 12 bytes (nothing to answer).
std::optional<Header> peek_header(ByteView packet);

struct EncodeOptions {
  bool compress = true;  // RFC 1035 §4.1.4 name compression (owner names, NS/CNAME/PTR/SOA rdata)
};

// The whole message. Asserts that names and rdata are encodable (labels <= 63, names <= 255,
// TXT strings <= 255, rdata matching the type, at most 65535 records a section): the cores build
// these messages, so a violation is a programmer error. The result may exceed 65535 bytes only if
// the caller asked for that; use encode_fitting for anything sent.
Bytes encode(const Message& message, EncodeOptions options = {});

// Encodes as much of the message as fits in max_size bytes (at least 12 + the questions + OPT):
// records are dropped whole, never cut. Answers are kept first (in order, a prefix), then the
// authority section (all or nothing), then a prefix of the additional section; the OPT always
// stays. When an answer or authority record had to go, `truncated` is set (the caller decides
// whether TC goes out: Consul sets it only with enable_truncate, D52); the header's TC bit
// is written as message.header.tc || (truncated && set_tc).
struct Fitted {
  Bytes packet;
  std::size_t answers_kept = 0;
  std::size_t additional_kept = 0;
  bool truncated = false;  // answers or authority dropped
};
Fitted encode_fitting(const Message& message, std::size_t max_size, bool set_tc,
                      EncodeOptions options = {});

}  // namespace praetor::dns
