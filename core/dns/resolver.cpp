#include "core/dns/resolver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "core/catalog/state.hpp"

namespace praetor::dns {

namespace {

bool valid_label(std::string_view l) { return !l.empty() && l.size() <= kMaxLabel; }

bool valid_name(const Name& n) {
  for (const auto& l : n.labels) {
    if (!valid_label(l)) return false;
  }
  return wire_length(n) <= kMaxNameWire;
}

// Appends the labels of `tail` to `head`.
Name join(Name head, const Name& tail) {
  head.labels.insert(head.labels.end(), tail.labels.begin(), tail.labels.end());
  return head;
}

// The labels of our domain as the query spelled them: generated names (SOA, SRV targets) end in
// them, so they keep the asker's case and compress into the question.
Name apex_of(const Parsed& p) {
  const std::size_t k = name_from_text(p.domain).labels.size();
  const auto& labels = p.query.questions.at(0).name.labels;
  Name apex;
  apex.labels.assign(labels.end() - static_cast<std::ptrdiff_t>(k), labels.end());
  return apex;
}

Message reply_to(const Parsed& p, std::uint8_t rc, bool authoritative) {
  const Message& q = p.query;
  Message r;
  r.header.id = q.header.id;
  r.header.qr = true;
  r.header.opcode = q.header.opcode;
  r.header.rd = q.header.rd;
  r.header.cd = q.header.cd;
  r.header.ra = p.recursion_available;
  r.header.aa = authoritative;
  r.header.rcode = rc;
  r.questions = q.questions;
  if (q.edns) {
    Edns e;
    e.udp_payload = kOurUdpPayload;
    e.do_bit = q.edns->do_bit;  // RFC 3225 §3: DO is copied into the response
    r.edns = e;
  }
  return r;
}

Bytes send(const Parsed& p, const Message& m, bool compress = true) {
  return encode_fitting(m, p.max_response, true, EncodeOptions{compress}).packet;
}

Record soa_record(const Parsed& p, const ResolverConfig& c) {
  const Name apex = apex_of(p);
  RdataSoa soa;
  soa.mname = join(Name{{"ns"}}, apex);
  soa.rname = join(Name{{"hostmaster"}}, apex);
  soa.serial = c.soa_serial;
  soa.refresh = c.soa_refresh;
  soa.retry = c.soa_retry;
  soa.expire = c.soa_expire;
  soa.minimum = c.soa_min_ttl;
  return Record{apex, type::kSoa, klass::kIn, c.soa_min_ttl, std::move(soa)};
}

// NXDOMAIN (the name does not exist) or NOERROR/NODATA (it exists without records of that
// type): both with our SOA in authority, so resolvers can cache the negative answer (RFC 2308).
Bytes negative(const Parsed& p, const ResolverConfig& c, std::uint8_t rc) {
  Message r = reply_to(p, rc, true);
  r.authority.push_back(soa_record(p, c));
  return send(p, r, !c.disable_compression);
}

Bytes header_only(const Header& h, std::uint8_t rc, bool ra) {
  Message r;
  r.header.id = h.id;
  r.header.qr = true;
  r.header.opcode = h.opcode;
  r.header.rd = h.rd;
  r.header.ra = ra;
  r.header.rcode = rc;
  return encode(r);
}

bool wants(std::uint16_t qtype, std::uint16_t t) { return qtype == t || qtype == type::kAny; }

// Consul's address translation for the local datacenter: an A question prefers the node's
// lan_ipv4 tagged address, an AAAA question its lan_ipv6, otherwise the node's address.
std::string node_address_for(std::uint16_t qtype, const std::string& address,
                             const std::map<std::string, std::string>& tagged) {
  auto get = [&](const char* key) -> std::string {
    auto it = tagged.find(key);
    return it == tagged.end() ? std::string() : it->second;
  };
  const bool v4 = qtype != type::kAaaa;
  const bool v6 = qtype == type::kAaaa || qtype == type::kAny;
  if (v4) {
    if (auto a = get("lan_ipv4"); !a.empty()) return a;
  }
  if (v6) {
    if (auto a = get("lan_ipv6"); !a.empty()) return a;
  }
  return address;
}

// The A/AAAA record for `address` if the question wants that family; a CNAME for a host name.
std::optional<Record> address_record(const Name& owner, const std::string& address,
                                     std::uint16_t qtype, std::uint32_t ttl) {
  if (address.empty()) return std::nullopt;
  if (auto ip = parse_ip(address)) {
    if (auto* a = std::get_if<RdataA>(&*ip)) {
      if (!wants(qtype, type::kA)) return std::nullopt;
      return Record{owner, type::kA, klass::kIn, ttl, *a};
    }
    if (!wants(qtype, type::kAaaa)) return std::nullopt;
    return Record{owner, type::kAaaa, klass::kIn, ttl, std::get<RdataAaaa>(*ip)};
  }
  if (qtype != type::kA && qtype != type::kAaaa && qtype != type::kAny) return std::nullopt;
  Name target = name_from_text(address);
  if (target.labels.empty() || !valid_name(target)) return std::nullopt;
  return Record{owner, type::kCname, klass::kIn, ttl, RdataName{std::move(target)}};
}

// One TXT record per node meta pair: "key=value", or the value alone for "rfc1035-" keys.
void meta_txt(const Name& owner, const std::map<std::string, std::string>& meta, std::uint32_t ttl,
              std::vector<Record>& out) {
  for (const auto& [k, v] : meta) {
    std::string s = k.rfind("rfc1035-", 0) == 0 ? v : k + "=" + v;
    if (s.size() > 255) continue;  // one character-string; longer meta is not representable
    out.push_back(Record{owner, type::kTxt, klass::kIn, ttl, RdataTxt{{std::move(s)}}});
  }
}

std::string hex_of(const std::string& address) {
  auto ip = parse_ip(address);
  std::string out;
  if (!ip) return out;
  auto put = [&](auto& arr) {
    for (auto b : arr) out += fmt::format("{:02x}", b);
  };
  std::visit([&](auto& a) { put(a.address); }, *ip);
  return out;
}

// Returns a record's duplicate key (owner, type, rdata) to drop repeats.
bool same_record(const Record& a, const Record& b) {
  return a.rrtype == b.rrtype && a.rdata == b.rdata && names_iequal(a.name, b.name);
}

void push_unique(std::vector<Record>& out, Record r) {
  for (const auto& x : out) {
    if (same_record(x, r)) return;
  }
  out.push_back(std::move(r));
}

std::optional<std::uint8_t> hex_digit(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
  return std::nullopt;
}

Bytes answer_addr(const Parsed& p, const std::string& hex, const ResolverConfig& c) {
  if (hex.size() != 8 && hex.size() != 32) return negative(p, c, rcode::kNxDomain);
  Bytes raw;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    auto hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
    if (!hi || !lo) return negative(p, c, rcode::kNxDomain);
    raw.push_back(static_cast<std::uint8_t>((*hi << 4) | *lo));
  }
  const Question& q = p.query.questions[0];
  Message r = reply_to(p, rcode::kNoError, true);
  if (raw.size() == 4 && wants(q.qtype, type::kA)) {
    RdataA a;
    std::copy(raw.begin(), raw.end(), a.address.begin());
    r.answers.push_back(Record{q.name, type::kA, klass::kIn, 0, a});
  } else if (raw.size() == 16 && wants(q.qtype, type::kAaaa)) {
    RdataAaaa a;
    std::copy(raw.begin(), raw.end(), a.address.begin());
    r.answers.push_back(Record{q.name, type::kAaaa, klass::kIn, 0, a});
  } else {
    r.authority.push_back(soa_record(p, c));
  }
  return send(p, r, !c.disable_compression);
}

Bytes answer_apex(const Parsed& p, const ResolverConfig& c) {
  const Question& q = p.query.questions[0];
  Message r = reply_to(p, rcode::kNoError, true);
  if (wants(q.qtype, type::kSoa)) {
    Record soa = soa_record(p, c);
    soa.name = q.name;
    r.answers.push_back(std::move(soa));
  }
  if (wants(q.qtype, type::kNs)) {
    Name host = join(name_from_text(c.node_name), Name{{"node"}});
    host = join(std::move(host), name_from_text(c.datacenter));
    host = join(std::move(host), apex_of(p));
    if (!c.node_name.empty() && valid_name(host)) {
      r.answers.push_back(Record{q.name, type::kNs, klass::kIn, c.node_ttl, RdataName{host}});
      if (auto glue = address_record(host, c.node_address, type::kAny, c.node_ttl)) {
        if (glue->rrtype != type::kCname) r.additional.push_back(std::move(*glue));
      }
    }
  }
  if (r.answers.empty()) r.authority.push_back(soa_record(p, c));
  return send(p, r, !c.disable_compression);
}

bool is_kind(const std::string& s) {
  return s == "service" || s == "node" || s == "addr" || s == "query";
}

std::string join_labels(const std::vector<std::string>& labels, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out += '.';
    out += labels[i];
  }
  return out;
}

// How many trailing labels of `name` (lowercase) are `domain` (0: not in it).
std::size_t suffix_match(const Name& name, const std::string& domain) {
  if (domain.empty()) return 0;
  const Name d = lowercase(name_from_text(domain));
  if (d.labels.empty() || d.labels.size() > name.labels.size()) return 0;
  const std::size_t off = name.labels.size() - d.labels.size();
  for (std::size_t i = 0; i < d.labels.size(); ++i) {
    if (name.labels[off + i] != d.labels[i]) return 0;
  }
  return d.labels.size();
}

}  // namespace

std::optional<std::variant<RdataA, RdataAaaa>> parse_ip(const std::string& text) {
  auto parse_v4 = [](std::string_view s, std::uint8_t* out) -> bool {
    int part = 0;
    std::size_t i = 0;
    while (part < 4) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
      std::size_t start = i;
      unsigned value = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 4) {
        value = value * 10 + static_cast<unsigned>(s[i] - '0');
        ++i;
      }
      if (i - start > 3 || value > 255 || (i - start > 1 && s[start] == '0')) return false;
      out[part++] = static_cast<std::uint8_t>(value);
      if (part < 4) {
        if (i >= s.size() || s[i] != '.') return false;
        ++i;
      }
    }
    return i == s.size();
  };
  if (text.find(':') == std::string::npos) {
    RdataA a;
    if (!parse_v4(text, a.address.data())) return std::nullopt;
    return std::variant<RdataA, RdataAaaa>(a);
  }
  // IPv6: groups of up to 4 hex digits, one "::", an optional dotted IPv4 tail.
  std::string_view s = text;
  std::vector<std::uint16_t> head, tail;
  bool gap = false;
  auto* cur = &head;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    gap = true;
    cur = &tail;
    i = 2;
  } else if (!s.empty() && s[0] == ':') {
    return std::nullopt;
  }
  std::uint8_t v4[4];
  bool has_v4 = false;
  while (i < s.size()) {
    std::size_t end = s.find(':', i);
    std::string_view group = s.substr(i, end == std::string_view::npos ? s.npos : end - i);
    if (end == std::string_view::npos && group.find('.') != std::string_view::npos) {
      if (!parse_v4(group, v4)) return std::nullopt;
      has_v4 = true;
      i = s.size();
      break;
    }
    if (group.empty() || group.size() > 4) return std::nullopt;
    unsigned value = 0;
    for (char ch : group) {
      auto d = hex_digit(ch);
      if (!d) return std::nullopt;
      value = value * 16 + *d;
    }
    cur->push_back(static_cast<std::uint16_t>(value));
    if (end == std::string_view::npos) {
      i = s.size();
      break;
    }
    if (s.substr(end, 2) == "::") {
      if (gap) return std::nullopt;
      gap = true;
      cur = &tail;
      i = end + 2;
      if (i == s.size()) break;
    } else {
      i = end + 1;
      if (i == s.size()) return std::nullopt;  // a trailing single ':'
    }
  }
  const std::size_t groups = head.size() + tail.size() + (has_v4 ? 2 : 0);
  if (groups > 8 || (!gap && groups != 8) || (gap && groups == 8)) return std::nullopt;
  RdataAaaa a;
  std::size_t at = 0;
  for (auto g : head) {
    a.address[at++] = static_cast<std::uint8_t>(g >> 8);
    a.address[at++] = static_cast<std::uint8_t>(g);
  }
  at = 16 - 2 * tail.size() - (has_v4 ? 4 : 0);
  for (auto g : tail) {
    a.address[at++] = static_cast<std::uint8_t>(g >> 8);
    a.address[at++] = static_cast<std::uint8_t>(g);
  }
  if (has_v4) std::copy(v4, v4 + 4, a.address.begin() + 12);
  return std::variant<RdataA, RdataAaaa>(a);
}

std::uint32_t service_ttl_for(const ResolverConfig& c, const std::string& service) {
  const std::string name = lowercase(service);
  std::optional<std::uint32_t> best;
  std::size_t best_len = 0;
  for (const auto& [key, ttl] : c.service_ttl) {
    const std::string k = lowercase(key);
    if (k == name) return ttl;
    if (!k.empty() && k.back() == '*') {
      const std::string_view prefix(k.data(), k.size() - 1);
      if (name.rfind(prefix, 0) == 0 && (!best || prefix.size() > best_len)) {
        best = ttl;
        best_len = prefix.size();
      }
    }
  }
  return best.value_or(0);
}

Parsed plan(ByteView packet, Transport transport, const ResolverConfig& config) {
  Parsed p;
  p.transport = transport;
  p.recursion_available = config.recursors;
  auto decoded = decode(packet);
  if (!decoded) {
    auto h = peek_header(packet);
    // Nothing to answer without a header; never answer something that claims to be a response
    // (two servers could bounce FORMERRs at each other forever).
    if (!h || h->qr) return p;
    p.step = Reply{header_only(*h, rcode::kFormErr, config.recursors)};
    return p;
  }
  p.query = std::move(*decoded);
  const Message& q = p.query;
  if (q.header.qr) return p;  // a response sent to us: dropped, for the same reason
  if (transport == Transport::kTcp) {
    p.max_response = kMaxMessage;
  } else if (q.edns) {
    p.max_response = std::clamp<std::size_t>(q.edns->udp_payload, 512, kMaxUdpAnswer);
  }
  if (q.header.opcode != opcode::kQuery) {
    p.step = Reply{send(p, reply_to(p, rcode::kNotImp, false))};
    return p;
  }
  if (q.questions.size() != 1) {
    p.step = Reply{send(p, reply_to(p, rcode::kFormErr, false))};
    return p;
  }
  if (q.edns && q.edns->version != 0) {
    // RFC 6891 §6.1.3: an unknown EDNS version is BADVERS, with our version (0) in the OPT.
    Message r = reply_to(p, static_cast<std::uint8_t>(rcode::kBadVers & 0x0F), false);
    r.edns->ext_rcode = static_cast<std::uint8_t>(rcode::kBadVers >> 4);
    p.step = Reply{send(p, r)};
    return p;
  }
  const Question& question = q.questions[0];
  const Name lower = lowercase(question.name);
  const std::size_t in_domain = suffix_match(lower, config.domain);
  const std::size_t in_alt = suffix_match(lower, config.alt_domain);
  if (in_domain == 0 && in_alt == 0) {
    if (config.recursors) {
      p.step = Recurse{};
    } else {
      p.step = Reply{send(p, reply_to(p, rcode::kRefused, false))};
    }
    return p;
  }
  // The longer match wins when one domain is inside the other.
  const bool alt = in_alt > in_domain;
  p.domain = alt ? config.alt_domain : config.domain;
  if (question.qclass != klass::kIn && question.qclass != klass::kAny) {
    p.step = Reply{send(p, reply_to(p, rcode::kRefused, false))};
    return p;
  }
  const std::size_t n = lower.labels.size() - (alt ? in_alt : in_domain);
  const std::vector<std::string>& labels = lower.labels;
  if (n == 0) {
    p.step = Reply{answer_apex(p, config)};
    return p;
  }
  std::size_t k = 0;
  std::string dc = config.datacenter;
  if (is_kind(labels[n - 1])) {
    k = n - 1;
  } else if (n >= 2 && is_kind(labels[n - 2])) {
    k = n - 2;
    dc = labels[n - 1];
  } else {
    p.step = Reply{negative(p, config, rcode::kNxDomain)};
    return p;
  }
  if (k == 0) {
    p.step = Reply{negative(p, config, rcode::kNxDomain)};
    return p;
  }
  const std::string& kind = labels[k];
  if (kind == "service") {
    ServiceLookup l;
    l.datacenter = dc;
    if (k == 2 && labels[0].size() > 1 && labels[0][0] == '_' && labels[1].size() > 1 &&
        labels[1][0] == '_') {
      l.rfc2782 = true;
      l.service = labels[0].substr(1);
      l.tag = labels[1].substr(1);
      if (l.tag == "tcp" || l.tag == "udp") l.tag.clear();
    } else {
      // A tag may itself contain dots: everything before the service label is the tag.
      l.service = labels[k - 1];
      l.tag = join_labels(labels, 0, k - 1);
    }
    p.step = std::move(l);
    return p;
  }
  if (kind == "node") {
    p.step = NodeLookup{join_labels(labels, 0, k), dc};
    return p;
  }
  if (kind == "addr" && k == 1) {
    p.step = Reply{answer_addr(p, labels[0], config)};
    return p;
  }
  // Prepared queries (".query.") are not implemented: as a query that does not exist.
  p.step = Reply{negative(p, config, rcode::kNxDomain)};
  return p;
}

bool answered(const Instance& i, const ResolverConfig& c) {
  return i.health != catalog::HealthStatus::kCritical &&
         (!c.only_passing || i.health == catalog::HealthStatus::kPassing);
}

Bytes answer_service(const Parsed& p, const ServiceLookup& l, std::vector<Instance> instances,
                     const ResolverConfig& c, Rng& rng) {
  std::erase_if(instances, [&](const Instance& i) { return !answered(i, c); });
  // Consul answers NXDOMAIN for a service without a healthy instance, not NODATA.
  if (instances.empty()) return negative(p, c, rcode::kNxDomain);
  rng.shuffle(instances);

  const Question& q = p.query.questions[0];
  const std::uint32_t ttl = service_ttl_for(c, l.service);
  const Name apex = apex_of(p);
  const Name dc_name = name_from_text(l.datacenter);
  Message r = reply_to(p, rcode::kNoError, true);
  // extras[i]: the additional records for answers[i] (SRV targets' addresses and meta).
  std::vector<std::vector<Record>> extras;

  if (q.qtype == type::kSrv) {
    for (const auto& inst : instances) {
      if (inst.node.empty()) continue;
      RdataSrv srv;
      srv.priority = 1;
      srv.weight = static_cast<std::uint16_t>(std::min<std::uint32_t>(
          inst.health == catalog::HealthStatus::kPassing ? inst.weight_passing
                                                         : inst.weight_warning,
          0xFFFF));
      srv.port = inst.port;
      std::vector<Record> extra;
      if (inst.service_address.empty() || inst.service_address == inst.node_address) {
        // The node's name, with its address and meta beside it.
        srv.target = join(join(join(name_from_text(inst.node), Name{{"node"}}), dc_name), apex);
        if (!valid_name(srv.target)) continue;
        const std::string addr =
            node_address_for(type::kAny, inst.node_address, inst.node_tagged_addresses);
        if (auto a = address_record(srv.target, addr, type::kAny, ttl)) {
          extra.push_back(std::move(*a));
        }
        if (c.enable_additional_node_meta_txt) meta_txt(srv.target, inst.node_meta, ttl, extra);
      } else if (parse_ip(inst.service_address)) {
        // A service address of its own: an addr-style name that encodes it.
        srv.target =
            join(join(join(Name{{hex_of(inst.service_address)}}, Name{{"addr"}}), dc_name), apex);
        if (!valid_name(srv.target)) continue;
        if (auto a = address_record(srv.target, inst.service_address, type::kAny, ttl)) {
          extra.push_back(std::move(*a));
        }
      } else {
        srv.target = name_from_text(inst.service_address);  // a host name: as it is
        if (srv.target.labels.empty() || !valid_name(srv.target)) continue;
      }
      r.answers.push_back(Record{q.name, type::kSrv, klass::kIn, ttl, std::move(srv)});
      extras.push_back(std::move(extra));
    }
  } else {
    std::vector<Record> txt;
    std::set<std::string> seen;  // addresses already answered (one node, several ports)
    for (const auto& inst : instances) {
      const std::string addr =
          inst.service_address.empty()
              ? node_address_for(q.qtype, inst.node_address, inst.node_tagged_addresses)
              : inst.service_address;
      if (seen.insert(addr).second) {
        if (auto a = address_record(q.name, addr, q.qtype, ttl)) r.answers.push_back(*a);
      }
      if (q.qtype == type::kTxt || q.qtype == type::kAny) {
        std::vector<Record> meta;
        meta_txt(q.name, inst.node_meta, ttl, meta);
        for (auto& m : meta) push_unique(txt, std::move(m));
      }
    }
    // a_record_limit: A, AAAA and ANY, both transports, never SRV.
    if (c.a_record_limit > 0 && r.answers.size() > static_cast<std::size_t>(c.a_record_limit)) {
      r.answers.resize(static_cast<std::size_t>(c.a_record_limit));
    }
    for (auto& t : txt) r.answers.push_back(std::move(t));
    extras.resize(r.answers.size());
  }
  if (r.answers.empty()) {
    // The service exists, but has nothing of this type: NODATA.
    r.authority.push_back(soa_record(p, c));
    return send(p, r, !c.disable_compression);
  }

  bool dropped = false;
  // udp_answer_limit: for UDP answers bounded to 512 octets (no EDNS, or EDNS <= 512), as Consul.
  if (p.transport == Transport::kUdp && p.max_response <= 512 && c.udp_answer_limit > 0 &&
      r.answers.size() > static_cast<std::size_t>(c.udp_answer_limit)) {
    r.answers.resize(static_cast<std::size_t>(c.udp_answer_limit));
    dropped = true;
  }
  // Several instances on one node share a target: its records go in once.
  auto additional_for = [&](std::size_t kept) {
    std::vector<Record> out;
    std::set<std::string> targets;
    for (std::size_t i = 0; i < kept && i < extras.size(); ++i) {
      if (extras[i].empty() || !targets.insert(to_text(extras[i][0].name)).second) continue;
      out.insert(out.end(), extras[i].begin(), extras[i].end());
    }
    return out;
  };
  r.additional = additional_for(r.answers.size());
  const EncodeOptions opts{!c.disable_compression};
  // TC goes out when answers were dropped and enable_truncate asks for it (Consul's rule for
  // UDP); over TCP only when 65535 octets could not hold the answers.
  const bool set_tc = p.transport == Transport::kTcp || c.enable_truncate;
  Fitted f = encode_fitting(r, p.max_response, set_tc, opts);
  if (f.truncated) {
    // Keep the answers that fitted, then as much of their own additional data as still fits.
    r.answers.resize(f.answers_kept);
    r.additional = additional_for(f.answers_kept);
    f = encode_fitting(r, p.max_response, set_tc, opts);
    dropped = true;
  }
  if (dropped && set_tc) f.packet[2] |= 0x02;
  return std::move(f.packet);
}

Bytes answer_node(const Parsed& p, const NodeLookup&, const std::optional<NodeInfo>& node,
                  const ResolverConfig& c) {
  if (!node) return negative(p, c, rcode::kNxDomain);
  const Question& q = p.query.questions[0];
  Message r = reply_to(p, rcode::kNoError, true);
  const std::string addr = node_address_for(q.qtype, node->address, node->tagged_addresses);
  if (auto a = address_record(q.name, addr, q.qtype, c.node_ttl)) r.answers.push_back(*a);
  if (q.qtype == type::kTxt || q.qtype == type::kAny) {
    meta_txt(q.name, node->meta, c.node_ttl, r.answers);
  } else if (!r.answers.empty() && c.enable_additional_node_meta_txt) {
    meta_txt(q.name, node->meta, c.node_ttl, r.additional);
  }
  if (r.answers.empty()) r.authority.push_back(soa_record(p, c));
  return send(p, r, !c.disable_compression);
}

Bytes servfail(const Parsed& p) {
  if (p.query.questions.empty()) {
    return header_only(p.query.header, rcode::kServFail, p.recursion_available);
  }
  return send(p, reply_to(p, rcode::kServFail, false));
}

Bytes with_id(ByteView packet, std::uint16_t id) {
  Bytes out(packet.begin(), packet.end());
  if (out.size() >= 2) {
    out[0] = static_cast<std::uint8_t>(id >> 8);
    out[1] = static_cast<std::uint8_t>(id);
  }
  return out;
}

std::vector<Instance> instances_from(const catalog::CatalogState& state, const ServiceLookup& l) {
  std::vector<Instance> out;
  // Service names are matched case-insensitively, as Consul's DNS does; the names index holds
  // every name with instances, so this visits names, not instances.
  for (const auto& [name, index] : state.service_name_indexes()) {
    (void)index;
    if (!iequals(name, l.service)) continue;
    auto entries = state.health_service(name, {}, {}, false);
    for (const auto& e : entries.value) {
      const auto& s = e.service->def;
      if (!l.tag.empty() && std::none_of(s.tags.begin(), s.tags.end(),
                                         [&](const std::string& t) { return iequals(t, l.tag); })) {
        continue;
      }
      Instance i;
      i.node = e.node->def.name;
      i.node_address = e.node->def.address;
      i.datacenter = e.node->def.datacenter;
      i.node_tagged_addresses = e.node->def.tagged_addresses;
      i.node_meta = e.node->def.meta;
      i.service_id = s.id;
      i.service_address = s.address;
      i.port = static_cast<std::uint16_t>(std::min<std::uint32_t>(s.port, 0xFFFF));
      i.tags = s.tags;
      i.weight_passing = s.weight_passing;
      i.weight_warning = s.weight_warning;
      for (const auto* check : e.checks) {
        i.health = std::max(i.health, check->def.status);
      }
      out.push_back(std::move(i));
    }
  }
  return out;
}

std::optional<NodeInfo> node_from(const catalog::CatalogState& state, const std::string& node) {
  const catalog::NodeRecord* found = state.node(node);
  if (!found) {
    for (const auto& [name, record] : state.node_table()) {
      if (iequals(name, node)) {
        found = &record;
        break;
      }
    }
  }
  if (!found) return std::nullopt;
  return NodeInfo{found->def.name, found->def.address, found->def.datacenter,
                  found->def.tagged_addresses, found->def.meta};
}

}  // namespace praetor::dns
