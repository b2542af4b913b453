// The DNS wire codec: golden packets, every strict rejection, round-trip and mutation properties.
#include "core/dns/message.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

namespace praetor::dns {
namespace {

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Length-prefixed labels, then the root.
Bytes wire_name(std::initializer_list<std::string> labels) {
  Bytes out;
  for (const auto& l : labels) {
    out.push_back(static_cast<std::uint8_t>(l.size()));
    out.insert(out.end(), l.begin(), l.end());
  }
  out.push_back(0);
  return out;
}

Bytes header(std::uint16_t qd, std::uint16_t an, std::uint16_t ns, std::uint16_t ar,
             std::uint8_t f1 = 0x01, std::uint8_t f2 = 0x00, std::uint16_t id = 0x1234) {
  return {static_cast<std::uint8_t>(id >> 8),
          static_cast<std::uint8_t>(id),
          f1,
          f2,
          static_cast<std::uint8_t>(qd >> 8),
          static_cast<std::uint8_t>(qd),
          static_cast<std::uint8_t>(an >> 8),
          static_cast<std::uint8_t>(an),
          static_cast<std::uint8_t>(ns >> 8),
          static_cast<std::uint8_t>(ns),
          static_cast<std::uint8_t>(ar >> 8),
          static_cast<std::uint8_t>(ar)};
}

// `dig w-3333-mysql-test.service.consul` as dig 9.18 sends it: RD and AD, EDNS payload 1232
// and an 8-octet client cookie.
const Bytes kDigQuestion =
    cat({wire_name({"w-3333-mysql-test", "service", "consul"}), Bytes{0x00, 0x01, 0x00, 0x01}});
const Bytes kDigCookieOpt = {0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00,
                             0x0a, 0x00, 0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};

std::string error_of(const Bytes& packet) {
  auto m = decode(packet);
  return m ? std::string("decoded") : m.error().message;
}

TEST(DnsMessage, DecodesDigQueryWithCookie) {
  const Bytes packet = cat({header(1, 0, 0, 1, 0x01, 0x20), kDigQuestion, kDigCookieOpt});
  auto m = decode(packet);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->header.id, 0x1234);
  EXPECT_TRUE(m->header.rd);
  EXPECT_TRUE(m->header.ad);
  EXPECT_FALSE(m->header.qr);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(to_text(m->questions[0].name), "w-3333-mysql-test.service.consul.");
  EXPECT_EQ(m->questions[0].qtype, type::kA);
  ASSERT_TRUE(m->edns);
  EXPECT_EQ(m->edns->udp_payload, 1232);
  EXPECT_FALSE(m->edns->do_bit);
  ASSERT_EQ(m->edns->options.size(), 1u);
  EXPECT_EQ(m->edns->options[0].code, 10);
  EXPECT_EQ(m->edns->options[0].data.size(), 8u);
  EXPECT_TRUE(m->additional.empty());
  EXPECT_EQ(encode(*m), packet);  // re-encodes byte for byte
}

TEST(DnsMessage, DecodesPlainQuery) {
  const Bytes packet = cat({header(1, 0, 0, 0), kDigQuestion});
  auto m = decode(packet);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_FALSE(m->edns);
  EXPECT_EQ(encode(*m), packet);
}

TEST(DnsMessage, EncodesWithCompressionAndPreservesCase) {
  Message m;
  m.header.id = 1;
  m.questions.push_back({name_from_text("Web.Service.Consul."), type::kA, klass::kIn});
  m.answers.push_back(
      {name_from_text("Web.Service.Consul."), type::kA, klass::kIn, 5, RdataA{{10, 0, 0, 1}}});
  m.answers.push_back({name_from_text("x.service.consul."), type::kCname, klass::kIn, 5,
                       RdataName{name_from_text("y.Service.Consul.")}});
  const Bytes packet = encode(m);
  // The answer's owner is a pointer to the question (offset 12).
  const std::size_t answer_at = 12 + wire_length(m.questions[0].name) + 4;
  EXPECT_EQ(packet[answer_at], 0xC0);
  EXPECT_EQ(packet[answer_at + 1], 12);
  auto back = decode(packet);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, m);  // "service.consul" was not pointed at "Service.Consul"
  const Bytes plain = encode(m, EncodeOptions{false});
  EXPECT_GT(plain.size(), packet.size());
  auto back_plain = decode(plain);
  ASSERT_TRUE(back_plain);
  EXPECT_EQ(*back_plain, m);
}

TEST(DnsMessage, SrvTargetIsNeverCompressed) {
  Message m;
  m.questions.push_back({name_from_text("web.service.consul"), type::kSrv, klass::kIn});
  m.answers.push_back({name_from_text("web.service.consul"), type::kSrv, klass::kIn, 0,
                       RdataSrv{1, 1, 80, name_from_text("web.service.consul")}});
  const Bytes packet = encode(m);
  // header 12 + question (20 + 4) + owner pointer 2 + 10 fixed + 6 SRV fields + the full target.
  EXPECT_EQ(packet.size(), 12u + 24 + 2 + 10 + 6 + 20);
}

TEST(DnsMessage, PeekHeader) {
  EXPECT_FALSE(peek_header(Bytes(11, 0xFF)));
  Bytes junk = header(9, 9, 9, 9, 0x29, 0x00, 0xBEEF);  // opcode 5, RD
  junk.push_back(0xFF);
  auto h = peek_header(junk);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->id, 0xBEEF);
  EXPECT_EQ(h->opcode, 5);
  EXPECT_TRUE(h->rd);
  EXPECT_FALSE(h->qr);
  EXPECT_FALSE(decode(junk));
}

// ---- strict rejections ----

TEST(DnsReject, ShortHeader) {
  EXPECT_NE(error_of(Bytes(11, 0)).find("shorter than the 12-octet header"), std::string::npos);
}

TEST(DnsReject, CountsBeyondMessage) {
  const Bytes p = cat({header(1, 0xFFFF, 0, 0), kDigQuestion});
  EXPECT_NE(error_of(p).find("section counts"), std::string::npos) << error_of(p);
  const Bytes q = cat({header(0xFFFF, 0, 0, 0), kDigQuestion});
  EXPECT_NE(error_of(q).find("section counts"), std::string::npos);
}

TEST(DnsReject, PointerToItselfIsALoop) {
  const Bytes p = cat({header(1, 0, 0, 0), Bytes{0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01}});
  EXPECT_NE(error_of(p).find("loop or forward pointer"), std::string::npos) << error_of(p);
}

TEST(DnsReject, PointerIntoTheSameNameIsALoop) {
  // "a" then a pointer back to the start of this very name.
  const Bytes p = cat({header(1, 0, 0, 0), Bytes{0x01, 'a', 0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01}});
  EXPECT_NE(error_of(p).find("loop or forward pointer"), std::string::npos) << error_of(p);
}

TEST(DnsReject, ForwardPointer) {
  // The question points at a name that comes later (offset 18).
  const Bytes p =
      cat({header(1, 0, 0, 0), Bytes{0xC0, 0x12, 0x00, 0x01, 0x00, 0x01}, wire_name({"x"})});
  EXPECT_NE(error_of(p).find("does not point before"), std::string::npos) << error_of(p);
}

TEST(DnsReject, TwoNamesPointingAtEachOther) {
  // The question (offset 12) is "a" + a pointer to the record owner (offset 20), which is "b" +
  // a pointer back to the question: a loop that needs one forward pointer, refused there.
  const Bytes p = cat(
      {header(1, 1, 0, 0), Bytes{0x01, 'a', 0xC0, 0x14, 0x00, 0x01, 0x00, 0x01},
       Bytes{0x01, 'b', 0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x04, 1, 2, 3, 4}});
  EXPECT_NE(error_of(p).find("to offset 20 does not point before offset 12"), std::string::npos)
      << error_of(p);
}

TEST(DnsReject, TooManyPointerHops) {
  auto chain = [](int hops) {
    // Question: root. Answer: root owner, opaque type 0xFF00 whose rdata is a root octet followed
    // by pointers, each to the one before. Additional owner: a pointer to the last.
    Bytes p = cat({header(1, 1, 0, 1), Bytes{0x00, 0x00, 0x01, 0x00, 0x01}});
    Bytes rdata{0x00};
    const std::size_t rdata_at = p.size() + 11;
    for (int i = 0; i < hops; ++i) {
      const std::size_t prev =
          i == 0 ? rdata_at : rdata_at + 1 + 2 * static_cast<std::size_t>(i - 1);
      rdata.push_back(static_cast<std::uint8_t>(0xC0 | (prev >> 8)));
      rdata.push_back(static_cast<std::uint8_t>(prev));
    }
    p.insert(p.end(), {0x00, 0xFF, 0x00, 0x00, 0x01, 0, 0, 0, 0,
                       static_cast<std::uint8_t>(rdata.size() >> 8),
                       static_cast<std::uint8_t>(rdata.size())});
    p.insert(p.end(), rdata.begin(), rdata.end());
    const std::size_t last = rdata_at + 1 + 2 * static_cast<std::size_t>(hops - 1);
    p.insert(p.end(),
             {static_cast<std::uint8_t>(0xC0 | (last >> 8)), static_cast<std::uint8_t>(last), 0x00,
              0x01, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x04, 1, 2, 3, 4});
    return p;
  };
  EXPECT_EQ(error_of(chain(100)), "decoded");
  EXPECT_NE(error_of(chain(200)).find("more than 127 compression pointers"), std::string::npos)
      << error_of(chain(200));
}

TEST(DnsReject, LabelLongerThan63) {
  Bytes p = header(1, 0, 0, 0);
  p.push_back(64);
  p.insert(p.end(), 64, 'a');
  p.insert(p.end(), {0x00, 0x00, 0x01, 0x00, 0x01});
  EXPECT_NE(error_of(p).find("longer than 63 octets"), std::string::npos) << error_of(p);
  Bytes q = cat({header(1, 0, 0, 0), Bytes{0x80, 0x00, 0x00, 0x01, 0x00, 0x01}});
  EXPECT_NE(error_of(q).find("reserved label type"), std::string::npos);
}

TEST(DnsReject, NameLongerThan255) {
  auto with = [](std::size_t last) {
    Bytes p = header(1, 0, 0, 0);
    for (int i = 0; i < 3; ++i) {
      p.push_back(63);
      p.insert(p.end(), 63, 'a');
    }
    p.push_back(static_cast<std::uint8_t>(last));
    p.insert(p.end(), last, 'b');
    p.insert(p.end(), {0x00, 0x00, 0x01, 0x00, 0x01});
    return p;
  };
  EXPECT_EQ(error_of(with(61)), "decoded");  // 3*64 + 62 + 1 = 255
  EXPECT_NE(error_of(with(62)).find("longer than 255 octets"), std::string::npos);
}

TEST(DnsReject, RdlengthMismatchForKnownTypes) {
  auto rr = [](std::uint16_t t, Bytes rdata) {
    Bytes p = cat({header(1, 1, 0, 0), kDigQuestion, Bytes{0xC0, 0x0C}});
    p.insert(p.end(), {static_cast<std::uint8_t>(t >> 8), static_cast<std::uint8_t>(t), 0x00, 0x01,
                       0, 0, 0, 0, 0x00, static_cast<std::uint8_t>(rdata.size())});
    p.insert(p.end(), rdata.begin(), rdata.end());
    return p;
  };
  EXPECT_NE(error_of(rr(type::kA, {1, 2, 3, 4, 5})).find("A record RDLENGTH 5"), std::string::npos);
  EXPECT_NE(error_of(rr(type::kAaaa, Bytes(15, 0))).find("AAAA record RDLENGTH 15"),
            std::string::npos);
  EXPECT_NE(error_of(rr(type::kCname, {0x01, 'x', 0x00, 0xFF})).find("RDLENGTH is 4"),
            std::string::npos);
  EXPECT_NE(error_of(rr(type::kSrv, {0, 1, 0, 1, 0, 80, 0x00, 0x00})).find("RDLENGTH is 8"),
            std::string::npos);
  EXPECT_NE(error_of(rr(type::kTxt, {0x05, 'a', 'b'})).find("runs past RDLENGTH"),
            std::string::npos);
  EXPECT_NE(error_of(rr(type::kTxt, {})).find("no character-strings"), std::string::npos);
  EXPECT_NE(error_of(rr(type::kSoa, {0x00, 0x00, 1, 2, 3})).find("SOA rdata"), std::string::npos);
  EXPECT_EQ(error_of(rr(type::kA, {1, 2, 3, 4})), "decoded");
  EXPECT_EQ(error_of(rr(0x1234, {1, 2, 3, 4, 5})), "decoded");  // unknown type: opaque
}

TEST(DnsReject, RdlengthPastTheEnd) {
  Bytes p = cat({header(1, 1, 0, 0), kDigQuestion,
                 Bytes{0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x08, 1, 2, 3, 4}});
  EXPECT_NE(error_of(p).find("runs past the end of the message"), std::string::npos) << error_of(p);
}

TEST(DnsReject, SeveralOptRecords) {
  const Bytes opt = {0x00, 0x00, 0x29, 0x10, 0x00, 0, 0, 0, 0, 0x00, 0x00};
  const Bytes p = cat({header(1, 0, 0, 2), kDigQuestion, opt, opt});
  EXPECT_EQ(error_of(p), "more than one OPT record");
}

TEST(DnsReject, OptOutsideAdditional) {
  const Bytes opt = {0x00, 0x00, 0x29, 0x10, 0x00, 0, 0, 0, 0, 0x00, 0x00};
  EXPECT_EQ(error_of(cat({header(1, 1, 0, 0), kDigQuestion, opt})),
            "OPT record in the answer section");
  EXPECT_EQ(error_of(cat({header(1, 0, 1, 0), kDigQuestion, opt})),
            "OPT record in the authority section");
}

TEST(DnsReject, OptWithNonRootOwner) {
  const Bytes opt = {0xC0, 0x0C, 0x00, 0x29, 0x10, 0x00, 0, 0, 0, 0, 0x00, 0x00};
  EXPECT_EQ(error_of(cat({header(1, 0, 0, 1), kDigQuestion, opt})),
            "OPT record owner is not the root");
}

TEST(DnsReject, OptOptionCutOff) {
  const Bytes opt = {0x00, 0x00, 0x29, 0x10, 0x00, 0,    0,    0,   0,
                     0x00, 0x06, 0x00, 0x0a, 0x00, 0x08, 0x11, 0x22};
  EXPECT_NE(error_of(cat({header(1, 0, 0, 1), kDigQuestion, opt})).find("runs past RDLENGTH"),
            std::string::npos);
}

TEST(DnsReject, TrailingGarbage) {
  const Bytes p = cat({header(1, 0, 0, 0), kDigQuestion, Bytes{0x00}});
  EXPECT_EQ(error_of(p), "1 octets after the last record");
}

TEST(DnsReject, CutOffQuestionAndRecord) {
  Bytes p = cat({header(1, 0, 0, 0), kDigQuestion});
  p.pop_back();
  EXPECT_NE(error_of(p).find("cut off"), std::string::npos) << error_of(p);
  Bytes q = cat({header(1, 0, 0, 0), wire_name({"abc"})});
  q.resize(q.size() - 2);  // a label running past the end
  EXPECT_FALSE(decode(q));
}

// ---- truncation ----

Message many_a(std::size_t n, std::size_t extra) {
  Message m;
  m.header.qr = true;
  m.questions.push_back({name_from_text("web.service.consul"), type::kA, klass::kIn});
  for (std::size_t i = 0; i < n; ++i) {
    m.answers.push_back(
        {name_from_text("web.service.consul"), type::kA, klass::kIn, 0,
         RdataA{{10, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}}});
  }
  for (std::size_t i = 0; i < extra; ++i) {
    m.additional.push_back({name_from_text("n" + std::to_string(i) + ".node.dc1.consul"), type::kA,
                            klass::kIn, 0, RdataA{{10, 1, 0, 1}}});
  }
  return m;
}

TEST(DnsTruncate, DropsAnswersWholeAndSetsTc) {
  Message m = many_a(50, 0);
  m.edns = Edns{};
  Fitted f = encode_fitting(m, 512, true);
  EXPECT_TRUE(f.truncated);
  EXPECT_LE(f.packet.size(), 512u);
  EXPECT_LT(f.answers_kept, 50u);
  auto back = decode(f.packet);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->header.tc);
  EXPECT_EQ(back->answers.size(), f.answers_kept);
  EXPECT_TRUE(back->edns);  // the OPT stays
  // Exactly as many as fit: one more would not.
  Message more = m;
  more.answers.resize(f.answers_kept + 1);
  EXPECT_GT(encode(more).size(), 512u);
  // Without set_tc the bit stays clear.
  EXPECT_FALSE(decode(encode_fitting(m, 512, false).packet)->header.tc);
}

TEST(DnsTruncate, DropsAdditionalFirstWithoutTc) {
  Message m = many_a(3, 40);
  Fitted f = encode_fitting(m, 512, true);
  EXPECT_FALSE(f.truncated);
  EXPECT_EQ(f.answers_kept, 3u);
  EXPECT_LT(f.additional_kept, 40u);
  EXPECT_GT(f.additional_kept, 0u);
  auto back = decode(f.packet);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->header.tc);
  EXPECT_EQ(back->additional.size(), f.additional_kept);
  EXPECT_LE(f.packet.size(), 512u);
}

TEST(DnsTruncate, EverythingFits) {
  Message m = many_a(50, 5);
  Fitted f = encode_fitting(m, 65535, true);
  EXPECT_FALSE(f.truncated);
  EXPECT_EQ(f.packet, encode(m));
}

// ---- properties ----

rc::Gen<std::string> gen_label() {
  // Mostly short labels; sometimes up to the 63-octet limit.
  return rc::gen::mapcat(
      rc::gen::weightedOneOf<std::size_t>(
          {{8, rc::gen::inRange<std::size_t>(1, 12)}, {1, rc::gen::inRange<std::size_t>(50, 64)}}),
      [](std::size_t n) {
        return rc::gen::container<std::string>(
            n, rc::gen::elementOf(std::string("abcXYZ-_09.\\ \x01\xff")));
      });
}

rc::Gen<Name> gen_small_name() {
  return rc::gen::exec([] {
    const auto n = *rc::gen::inRange<std::size_t>(0, 6);
    Name name;
    for (std::size_t i = 0; i < n; ++i) {
      // A small pool of labels, so names share suffixes and compression has work to do.
      name.labels.push_back(*rc::gen::oneOf(
          rc::gen::element<std::string>("consul", "Consul", "service", "node", "dc1"),
          gen_label()));
    }
    // Long labels can make a name too long: drop leading labels until it fits in 255 octets.
    while (wire_length(name) > kMaxNameWire) name.labels.erase(name.labels.begin());
    return name;
  });
}

rc::Gen<Record> gen_record() {
  return rc::gen::exec([] {
    Record r;
    r.name = *gen_small_name();
    r.rrclass = *rc::gen::elementOf(std::vector<std::uint16_t>{klass::kIn, klass::kAny, 254});
    r.ttl = *rc::gen::arbitrary<std::uint32_t>();
    const int kind = *rc::gen::inRange(0, 10);
    switch (kind) {
      case 0:
        r.rrtype = type::kA;
        r.rdata = RdataA{*rc::gen::arbitrary<std::array<std::uint8_t, 4>>()};
        break;
      case 1:
        r.rrtype = type::kAaaa;
        r.rdata = RdataAaaa{*rc::gen::arbitrary<std::array<std::uint8_t, 16>>()};
        break;
      case 2:
        r.rrtype =
            *rc::gen::elementOf(std::vector<std::uint16_t>{type::kNs, type::kCname, type::kPtr});
        r.rdata = RdataName{*gen_small_name()};
        break;
      case 3:
        r.rrtype = type::kSoa;
        r.rdata = RdataSoa{*gen_small_name(),
                           *gen_small_name(),
                           *rc::gen::arbitrary<std::uint32_t>(),
                           1,
                           2,
                           3,
                           *rc::gen::arbitrary<std::uint32_t>()};
        break;
      case 4: {
        r.rrtype = type::kTxt;
        RdataTxt t;
        const auto n = *rc::gen::inRange<std::size_t>(1, 4);
        for (std::size_t i = 0; i < n; ++i)
          t.strings.push_back(*rc::gen::container<std::string>(
              *rc::gen::inRange<std::size_t>(0, 300) % 256, rc::gen::arbitrary<char>()));
        r.rdata = t;
        break;
      }
      case 5:
        r.rrtype = type::kSrv;
        r.rdata =
            RdataSrv{*rc::gen::arbitrary<std::uint16_t>(), *rc::gen::arbitrary<std::uint16_t>(),
                     *rc::gen::arbitrary<std::uint16_t>(), *gen_small_name()};
        break;
      default: {
        r.rrtype = *rc::gen::elementOf(std::vector<std::uint16_t>{15, 99, 257, 0xFF00, 65535});
        r.rdata = RdataOpaque{*rc::gen::container<Bytes>(*rc::gen::inRange<std::size_t>(0, 40),
                                                         rc::gen::arbitrary<std::uint8_t>())};
      }
    }
    return r;
  });
}

rc::Gen<Message> gen_message() {
  return rc::gen::exec([] {
    Message m;
    m.header.id = *rc::gen::arbitrary<std::uint16_t>();
    m.header.qr = *rc::gen::arbitrary<bool>();
    m.header.opcode = *rc::gen::inRange<std::uint8_t>(0, 16);
    m.header.aa = *rc::gen::arbitrary<bool>();
    m.header.tc = *rc::gen::arbitrary<bool>();
    m.header.rd = *rc::gen::arbitrary<bool>();
    m.header.ra = *rc::gen::arbitrary<bool>();
    m.header.z = *rc::gen::arbitrary<bool>();
    m.header.ad = *rc::gen::arbitrary<bool>();
    m.header.cd = *rc::gen::arbitrary<bool>();
    m.header.rcode = *rc::gen::inRange<std::uint8_t>(0, 16);
    const auto nq = *rc::gen::inRange<std::size_t>(0, 3);
    for (std::size_t i = 0; i < nq; ++i) {
      m.questions.push_back({*gen_small_name(), *rc::gen::arbitrary<std::uint16_t>(),
                             *rc::gen::arbitrary<std::uint16_t>()});
    }
    for (auto* section : {&m.answers, &m.authority, &m.additional}) {
      *section = *rc::gen::container<std::vector<Record>>(*rc::gen::inRange<std::size_t>(0, 6),
                                                          gen_record());
    }
    if (*rc::gen::arbitrary<bool>()) {
      Edns e;
      e.udp_payload = *rc::gen::arbitrary<std::uint16_t>();
      e.ext_rcode = *rc::gen::arbitrary<std::uint8_t>();
      e.version = *rc::gen::arbitrary<std::uint8_t>();
      e.do_bit = *rc::gen::arbitrary<bool>();
      e.z = *rc::gen::inRange<std::uint16_t>(0, 0x8000);
      const auto n = *rc::gen::inRange<std::size_t>(0, 3);
      for (std::size_t i = 0; i < n; ++i) {
        e.options.push_back({*rc::gen::arbitrary<std::uint16_t>(),
                             *rc::gen::container<Bytes>(*rc::gen::inRange<std::size_t>(0, 20),
                                                        rc::gen::arbitrary<std::uint8_t>())});
      }
      m.edns = e;
    }
    return m;
  });
}

RC_GTEST_PROP(DnsProperty, RoundTripCompressed, ()) {
  const Message m = *gen_message();
  auto back = decode(encode(m));
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == m);
}

RC_GTEST_PROP(DnsProperty, RoundTripUncompressed, ()) {
  const Message m = *gen_message();
  const Bytes plain = encode(m, EncodeOptions{false});
  RC_ASSERT(plain.size() >= encode(m).size());
  auto back = decode(plain);
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == m);
}

RC_GTEST_PROP(DnsProperty, FittedPrefixDecodes, ()) {
  const Message m = *gen_message();
  const auto max = *rc::gen::inRange<std::size_t>(12, 700);
  Fitted f = encode_fitting(m, max, true);
  auto back = decode(f.packet);
  RC_ASSERT(back.has_value());
  RC_ASSERT(back->answers.size() == f.answers_kept);
  RC_ASSERT(back->additional.size() == f.additional_kept);
  for (std::size_t i = 0; i < f.answers_kept; ++i) RC_ASSERT(back->answers[i] == m.answers[i]);
  if (f.packet.size() > max) {
    // Only when not even the header, question and OPT fit: then no record was kept.
    RC_ASSERT(f.answers_kept == 0 && f.additional_kept == 0);
  }
}

RC_GTEST_PROP(DnsProperty, MutationsNeverCrash, ()) {
  Bytes packet = encode(*gen_message());
  const auto edits = *rc::gen::inRange(1, 8);
  for (int i = 0; i < edits; ++i) {
    const int how = *rc::gen::inRange(0, 4);
    if (how == 0 && !packet.empty()) {
      packet[*rc::gen::inRange<std::size_t>(0, packet.size())] =
          *rc::gen::arbitrary<std::uint8_t>();
    } else if (how == 1 && !packet.empty()) {
      packet.resize(*rc::gen::inRange<std::size_t>(0, packet.size()));
    } else if (how == 2) {
      packet.push_back(*rc::gen::arbitrary<std::uint8_t>());
    } else if (packet.size() > 12) {
      // A compression pointer somewhere, to anywhere.
      const auto at = *rc::gen::inRange<std::size_t>(12, packet.size());
      packet[at] = static_cast<std::uint8_t>(0xC0 | *rc::gen::inRange(0, 4));
      if (at + 1 < packet.size()) packet[at + 1] = *rc::gen::arbitrary<std::uint8_t>();
    }
  }
  auto m = decode(packet);
  if (m) {
    auto again = decode(encode(*m));
    RC_ASSERT(again.has_value());
    RC_ASSERT(*again == *m);
  } else {
    RC_ASSERT(!m.error().message.empty());
  }
}

}  // namespace
}  // namespace praetor::dns
