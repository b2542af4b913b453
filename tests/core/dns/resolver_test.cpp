// Consul's DNS rules over the pure resolver: plan() for every name shape, answer_service /
// answer_node for every answer rule, golden answers byte for byte.
#include "core/dns/resolver.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/catalog/state.hpp"

namespace praetor::dns {
namespace {

using catalog::HealthStatus;

struct QueryOpts {
  bool edns = false;
  std::uint16_t payload = 4096;
  std::uint16_t id = 0x1234;
  bool rd = true;
  std::uint16_t qclass = klass::kIn;
};

Bytes query(const std::string& name, std::uint16_t qtype, QueryOpts o = {}) {
  Message m;
  m.header.id = o.id;
  m.header.rd = o.rd;
  m.questions.push_back({name_from_text(name), qtype, o.qclass});
  if (o.edns) {
    Edns e;
    e.udp_payload = o.payload;
    m.edns = e;
  }
  return encode(m);
}

ResolverConfig config() {
  ResolverConfig c;
  c.datacenter = "dc1";
  c.node_name = "s1";
  c.node_address = "10.9.9.9";
  c.soa_serial = 1700000000;
  return c;
}

Instance inst(std::string node, std::string address, std::uint16_t port = 8080,
              HealthStatus health = HealthStatus::kPassing) {
  Instance i;
  i.node = std::move(node);
  i.node_address = std::move(address);
  i.datacenter = "dc1";
  i.service_id = "web";
  i.port = port;
  i.health = health;
  return i;
}

std::vector<Instance> many(int n) {
  std::vector<Instance> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(inst("node" + std::to_string(i),
                       "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256)));
  }
  return out;
}

Message decoded(const Bytes& packet) {
  auto m = decode(packet);
  EXPECT_TRUE(m) << (m ? "" : m.error().message);
  return m ? *m : Message{};
}

// plan() + answer_service() for a service name.
Message ask_service(const Bytes& packet, std::vector<Instance> instances, const ResolverConfig& c,
                    Transport t = Transport::kUdp, std::uint64_t seed = 1) {
  Parsed p = plan(packet, t, c);
  const auto* l = std::get_if<ServiceLookup>(&p.step);
  EXPECT_NE(l, nullptr);
  if (!l) return {};
  Rng rng(seed);
  return decoded(answer_service(p, *l, std::move(instances), c, rng));
}

Message ask_node(const Bytes& packet, const std::optional<NodeInfo>& node,
                 const ResolverConfig& c) {
  Parsed p = plan(packet, Transport::kUdp, c);
  const auto* l = std::get_if<NodeLookup>(&p.step);
  EXPECT_NE(l, nullptr);
  if (!l) return {};
  return decoded(answer_node(p, *l, node, c));
}

Message reply_of(const Bytes& packet, const ResolverConfig& c, Transport t = Transport::kUdp) {
  Parsed p = plan(packet, t, c);
  const auto* r = std::get_if<Reply>(&p.step);
  EXPECT_NE(r, nullptr);
  if (!r) return {};
  return decoded(r->packet);
}

std::string addr_of(const Record& r) {
  if (const auto* a = std::get_if<RdataA>(&r.rdata)) {
    return fmt::format("{}.{}.{}.{}", a->address[0], a->address[1], a->address[2], a->address[3]);
  }
  return "?";
}

void expect_soa_authority(const Message& m, const std::string& apex = "consul.") {
  ASSERT_EQ(m.authority.size(), 1u);
  const Record& soa = m.authority[0];
  EXPECT_EQ(soa.rrtype, type::kSoa);
  EXPECT_EQ(to_text(soa.name), apex);
  const auto& rd = std::get<RdataSoa>(soa.rdata);
  EXPECT_EQ(to_text(rd.mname), "ns." + apex);
  EXPECT_EQ(to_text(rd.rname), "hostmaster." + apex);
  EXPECT_EQ(rd.serial, 1700000000u);
  EXPECT_EQ(rd.refresh, 3600u);
  EXPECT_EQ(rd.retry, 600u);
  EXPECT_EQ(rd.expire, 86400u);
  EXPECT_EQ(rd.minimum, 0u);
}

// ---- plan: names ----

TEST(DnsPlan, ServiceNames) {
  const auto c = config();
  auto lookup = [&](const std::string& name) {
    Parsed p = plan(query(name, type::kA), Transport::kUdp, c);
    auto* l = std::get_if<ServiceLookup>(&p.step);
    return l ? *l : ServiceLookup{"<none>", "", "", false};
  };
  auto l = lookup("web.service.consul");
  EXPECT_EQ(l.service, "web");
  EXPECT_EQ(l.tag, "");
  EXPECT_EQ(l.datacenter, "dc1");
  EXPECT_FALSE(l.rfc2782);
  l = lookup("Primary.WEB.service.DC2.consul.");
  EXPECT_EQ(l.service, "web");
  EXPECT_EQ(l.tag, "primary");
  EXPECT_EQ(l.datacenter, "dc2");
  l = lookup("v1.2.web.service.consul");  // a tag with a dot
  EXPECT_EQ(l.tag, "v1.2");
  EXPECT_EQ(l.service, "web");
  l = lookup("_web._tcp.service.consul");
  EXPECT_TRUE(l.rfc2782);
  EXPECT_EQ(l.service, "web");
  EXPECT_EQ(l.tag, "");
  l = lookup("_web._udp.service.dc3.consul");
  EXPECT_EQ(l.tag, "");
  EXPECT_EQ(l.datacenter, "dc3");
  l = lookup("_web._Primary.service.consul");
  EXPECT_TRUE(l.rfc2782);
  EXPECT_EQ(l.tag, "primary");
  l = lookup("_web.service.consul");  // one underscored label is a plain service name
  EXPECT_EQ(l.service, "_web");
  EXPECT_FALSE(l.rfc2782);
}

TEST(DnsPlan, NodeNamesAndDatacenter) {
  const auto c = config();
  Parsed p = plan(query("Foo.node.consul", type::kA), Transport::kUdp, c);
  auto* l = std::get_if<NodeLookup>(&p.step);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->node, "foo");
  EXPECT_EQ(l->datacenter, "dc1");
  p = plan(query("foo.node.shenzhen.consul", type::kA), Transport::kUdp, c);
  l = std::get_if<NodeLookup>(&p.step);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->datacenter, "shenzhen");
  // A label that is neither a kind nor right after one is not a datacenter: NXDOMAIN.
  auto m = reply_of(query("foo.node.a.b.consul", type::kA), c);
  EXPECT_EQ(m.header.rcode, rcode::kNxDomain);
  expect_soa_authority(m);
}

TEST(DnsPlan, UnknownNamesInTheDomainAreNxdomainWithSoa) {
  const auto c = config();
  for (const char* name :
       {"service.consul", "nope.consul", "x.query.consul", "a.b.consul", "node.consul"}) {
    auto m = reply_of(query(name, type::kA), c);
    EXPECT_EQ(m.header.rcode, rcode::kNxDomain) << name;
    EXPECT_TRUE(m.header.aa) << name;
    EXPECT_TRUE(m.answers.empty());
    expect_soa_authority(m);
  }
}

TEST(DnsPlan, OutsideTheDomain) {
  auto c = config();
  auto m = reply_of(query("example.com", type::kA), c);
  EXPECT_EQ(m.header.rcode, rcode::kRefused);
  EXPECT_FALSE(m.header.ra);
  EXPECT_FALSE(m.header.aa);
  EXPECT_TRUE(m.header.rd);
  ASSERT_EQ(m.questions.size(), 1u);
  c.recursors = true;
  Parsed p = plan(query("example.com", type::kA), Transport::kUdp, c);
  EXPECT_TRUE(std::holds_alternative<Recurse>(p.step));
  EXPECT_TRUE(p.recursion_available);
  // "consul" as a label elsewhere does not make a name ours.
  p = plan(query("consul.example.com", type::kA), Transport::kUdp, c);
  EXPECT_TRUE(std::holds_alternative<Recurse>(p.step));
}

TEST(DnsPlan, BadQueries) {
  const auto c = config();
  // Opcode != QUERY: NOTIMP.
  Message notify;
  notify.header.id = 9;
  notify.header.opcode = 4;
  notify.questions.push_back({name_from_text("consul"), type::kSoa, klass::kIn});
  auto m = reply_of(encode(notify), c);
  EXPECT_EQ(m.header.rcode, rcode::kNotImp);
  EXPECT_EQ(m.header.opcode, 4);
  EXPECT_EQ(m.header.id, 9);
  // No question, two questions: FORMERR.
  Message none;
  none.header.id = 10;
  EXPECT_EQ(reply_of(encode(none), c).header.rcode, rcode::kFormErr);
  Message two = notify;
  two.header.opcode = 0;
  two.questions.push_back(two.questions[0]);
  m = reply_of(encode(two), c);
  EXPECT_EQ(m.header.rcode, rcode::kFormErr);
  EXPECT_TRUE(m.header.qr);
  // Undecodable with a header: FORMERR echoing id, opcode and RD, nothing else.
  Bytes junk = query("web.service.consul", type::kA, {.id = 0xABCD});
  junk.push_back(0x00);  // trailing garbage
  m = reply_of(junk, c);
  EXPECT_EQ(m.header.id, 0xABCD);
  EXPECT_EQ(m.header.rcode, rcode::kFormErr);
  EXPECT_TRUE(m.header.rd);
  EXPECT_TRUE(m.questions.empty());
  // Shorter than a header, or a response: no reply at all.
  Parsed p = plan(Bytes(5, 0), Transport::kUdp, c);
  ASSERT_TRUE(std::holds_alternative<Reply>(p.step));
  EXPECT_TRUE(std::get<Reply>(p.step).packet.empty());
  Message resp = notify;
  resp.header.qr = true;
  resp.header.opcode = 0;
  p = plan(encode(resp), Transport::kUdp, c);
  EXPECT_TRUE(std::get<Reply>(p.step).packet.empty());
  Bytes bad_resp = encode(resp);
  bad_resp.push_back(1);
  p = plan(bad_resp, Transport::kUdp, c);
  EXPECT_TRUE(std::get<Reply>(p.step).packet.empty());
  // EDNS version 1: BADVERS (extended rcode 16).
  Message v1 = notify;
  v1.header.opcode = 0;
  v1.edns = Edns{};
  v1.edns->version = 1;
  m = reply_of(encode(v1), c);
  ASSERT_TRUE(m.edns);
  EXPECT_EQ((m.edns->ext_rcode << 4) | m.header.rcode, 16);
  EXPECT_EQ(m.edns->version, 0);
  // Class CHAOS: REFUSED; class ANY is served.
  m = reply_of(query("consul", type::kSoa, {.qclass = klass::kChaos}), c);
  EXPECT_EQ(m.header.rcode, rcode::kRefused);
  m = reply_of(query("consul", type::kSoa, {.qclass = klass::kAny}), c);
  EXPECT_EQ(m.header.rcode, rcode::kNoError);
  EXPECT_EQ(m.answers.size(), 1u);
}

TEST(DnsPlan, MaxResponseSize) {
  const auto c = config();
  EXPECT_EQ(plan(query("web.service.consul", type::kA), Transport::kUdp, c).max_response, 512u);
  EXPECT_EQ(plan(query("web.service.consul", type::kA, {.edns = true, .payload = 1232}),
                 Transport::kUdp, c)
                .max_response,
            1232u);
  EXPECT_EQ(plan(query("web.service.consul", type::kA, {.edns = true, .payload = 100}),
                 Transport::kUdp, c)
                .max_response,
            512u);
  EXPECT_EQ(plan(query("web.service.consul", type::kA, {.edns = true, .payload = 65000}),
                 Transport::kUdp, c)
                .max_response,
            kMaxUdpAnswer);
  EXPECT_EQ(plan(query("web.service.consul", type::kA), Transport::kTcp, c).max_response, 65535u);
}

// ---- apex, addr ----

TEST(DnsApex, SoaNsAndNodata) {
  auto c = config();
  auto m = reply_of(query("CONSUL.", type::kSoa), c);
  EXPECT_EQ(m.header.rcode, rcode::kNoError);
  EXPECT_TRUE(m.header.aa);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(to_text(m.answers[0].name), "CONSUL.");
  EXPECT_EQ(to_text(std::get<RdataSoa>(m.answers[0].rdata).mname), "ns.CONSUL.");
  m = reply_of(query("consul.", type::kNs), c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(to_text(std::get<RdataName>(m.answers[0].rdata).name), "s1.node.dc1.consul.");
  ASSERT_EQ(m.additional.size(), 1u);
  EXPECT_EQ(to_text(m.additional[0].name), "s1.node.dc1.consul.");
  EXPECT_EQ(addr_of(m.additional[0]), "10.9.9.9");
  m = reply_of(query("consul.", type::kAny), c);
  EXPECT_EQ(m.answers.size(), 2u);
  m = reply_of(query("consul.", type::kA), c);
  EXPECT_EQ(m.header.rcode, rcode::kNoError);
  EXPECT_TRUE(m.answers.empty());
  expect_soa_authority(m);
}

TEST(DnsApex, AltDomain) {
  auto c = config();
  c.alt_domain = "svc.example.";
  auto m = reply_of(query("svc.example", type::kSoa), c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(to_text(std::get<RdataSoa>(m.answers[0].rdata).rname), "hostmaster.svc.example.");
  m = reply_of(query("nope.svc.example", type::kA), c);
  EXPECT_EQ(m.header.rcode, rcode::kNxDomain);
  expect_soa_authority(m, "svc.example.");
  auto s = ask_service(query("web.service.svc.example", type::kSrv), {inst("n1", "10.0.0.1")}, c);
  ASSERT_EQ(s.answers.size(), 1u);
  EXPECT_EQ(to_text(std::get<RdataSrv>(s.answers[0].rdata).target), "n1.node.dc1.svc.example.");
  // The primary domain still works beside it.
  EXPECT_EQ(ask_service(query("web.service.consul", type::kA), {inst("n1", "10.0.0.1")}, c)
                .answers.size(),
            1u);
}

TEST(DnsAddr, HexAddresses) {
  const auto c = config();
  auto m = reply_of(query("7f000001.addr.dc1.consul", type::kA), c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(addr_of(m.answers[0]), "127.0.0.1");
  EXPECT_TRUE(m.header.aa);
  m = reply_of(query("20010db8000000000000000000000001.addr.dc1.consul", type::kAaaa), c);
  ASSERT_EQ(m.answers.size(), 1u);
  const RdataAaaa v6 = std::get<RdataAaaa>(m.answers[0].rdata);
  EXPECT_EQ(v6.address[0], 0x20);
  EXPECT_EQ(v6.address[15], 0x01);
  m = reply_of(query("7f000001.addr.consul", type::kAaaa), c);  // no AAAA for an IPv4
  EXPECT_EQ(m.header.rcode, rcode::kNoError);
  EXPECT_TRUE(m.answers.empty());
  expect_soa_authority(m);
  m = reply_of(query("7f00zz01.addr.dc1.consul", type::kA), c);
  EXPECT_EQ(m.header.rcode, rcode::kNxDomain);
  m = reply_of(query("7f0001.addr.dc1.consul", type::kA), c);
  EXPECT_EQ(m.header.rcode, rcode::kNxDomain);
}

// ---- golden answers ----

TEST(DnsGolden, ServiceAWithAndWithoutEdns) {
  auto c = config();
  const Bytes question = {0x11, 'w', '-', '3', '3', '3',  '3', '-',  'm',  'y',  's',  'q', 'l',
                          '-',  't', 'e', 's', 't', 0x07, 's', 'e',  'r',  'v',  'i',  'c', 'e',
                          0x06, 'c', 'o', 'n', 's', 'u',  'l', 0x00, 0x00, 0x01, 0x00, 0x01};
  Bytes plain = {0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  plain.insert(plain.end(), question.begin(), question.end());
  Bytes cookie = plain;
  cookie[11] = 0x01;
  cookie.insert(cookie.end(),
                {0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00,
                 0x0a, 0x00, 0x08, 1,    2,    3,    4,    5,    6,    7,    8});
  const std::vector<Instance> one = {inst("mysql-1", "10.0.0.5", 3306)};
  const Bytes answer_rr = {0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x04, 0x0a, 0x00, 0x00, 0x05};

  Bytes expected = {0x12, 0x34, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
  expected.insert(expected.end(), question.begin(), question.end());
  expected.insert(expected.end(), answer_rr.begin(), answer_rr.end());
  Parsed p = plan(plain, Transport::kUdp, c);
  Rng rng(1);
  EXPECT_EQ(answer_service(p, std::get<ServiceLookup>(p.step), one, c, rng), expected);

  Bytes expected_edns = {0x12, 0x34, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01};
  expected_edns.insert(expected_edns.end(), question.begin(), question.end());
  expected_edns.insert(expected_edns.end(), answer_rr.begin(), answer_rr.end());
  expected_edns.insert(expected_edns.end(),
                       {0x00, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  p = plan(cookie, Transport::kUdp, c);
  EXPECT_EQ(p.max_response, 1232u);
  EXPECT_EQ(answer_service(p, std::get<ServiceLookup>(p.step), one, c, rng), expected_edns);
}

TEST(DnsGolden, ServiceSrv) {
  auto c = config();
  const Bytes q = {0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                   0x03, 'w',  'e',  'b',  0x07, 's',  'e',  'r',  'v',  'i',  'c',  'e',
                   0x06, 'c',  'o',  'n',  's',  'u',  'l',  0x00, 0x00, 0x21, 0x00, 0x01};
  Bytes expected(q);
  expected[2] = 0x85;
  expected[7] = 0x01;   // one answer
  expected[11] = 0x01;  // one additional
  expected.insert(
      expected.end(),
      {0xC0, 0x0C, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1d,  // SRV header
       0x00, 0x01, 0x00, 0x01, 0x1f, 0x90,                                      // 1 1 8080
       0x05, 'n',  'o',  'd',  'e',  '1',  0x04, 'n',  'o',  'd',  'e',  0x03,
       'd',  'c',  '1',  0x06, 'c',  'o',  'n',  's',  'u',  'l',  0x00,        // full target
       0xC0, 0x36, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,  // A at target
       0x0a, 0x00, 0x00, 0x01});
  Parsed p = plan(q, Transport::kUdp, c);
  Rng rng(1);
  EXPECT_EQ(answer_service(p, std::get<ServiceLookup>(p.step), {inst("node1", "10.0.0.1")}, c, rng),
            expected);
}

// ---- services ----

TEST(DnsService, HealthFiltering) {
  auto c = config();
  std::vector<Instance> set = {inst("a", "10.0.0.1", 1, HealthStatus::kPassing),
                               inst("b", "10.0.0.2", 1, HealthStatus::kWarning),
                               inst("c", "10.0.0.3", 1, HealthStatus::kCritical)};
  auto m = ask_service(query("web.service.consul", type::kA), set, c, Transport::kTcp);
  std::set<std::string> got;
  for (const auto& r : m.answers) got.insert(addr_of(r));
  EXPECT_EQ(got, (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  c.only_passing = true;
  m = ask_service(query("web.service.consul", type::kA), set, c, Transport::kTcp);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(addr_of(m.answers[0]), "10.0.0.1");
  // Nothing healthy: NXDOMAIN with the SOA, as Consul.
  m = ask_service(query("web.service.consul", type::kA), {set[2]}, c);
  EXPECT_EQ(m.header.rcode, rcode::kNxDomain);
  EXPECT_TRUE(m.header.aa);
  expect_soa_authority(m);
  m = ask_service(query("web.service.consul", type::kA), {}, c);
  EXPECT_EQ(m.header.rcode, rcode::kNxDomain);
}

TEST(DnsService, RandomOrderPerQuery) {
  const auto c = config();
  std::set<std::vector<std::string>> orders;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    auto m = ask_service(query("web.service.consul", type::kA), many(5), c, Transport::kTcp, seed);
    std::vector<std::string> order;
    for (const auto& r : m.answers) order.push_back(addr_of(r));
    ASSERT_EQ(order.size(), 5u);
    orders.insert(order);
  }
  EXPECT_GT(orders.size(), 5u);
}

TEST(DnsService, UdpAnswerLimit) {
  auto c = config();
  auto m = ask_service(query("web.service.consul", type::kA), many(10), c);
  EXPECT_EQ(m.answers.size(), 3u);
  EXPECT_FALSE(m.header.tc);  // Consul trims silently unless enable_truncate
  c.enable_truncate = true;
  m = ask_service(query("web.service.consul", type::kA), many(10), c);
  EXPECT_EQ(m.answers.size(), 3u);
  EXPECT_TRUE(m.header.tc);
  c.udp_answer_limit = 5;
  m = ask_service(query("web.service.consul", type::kA), many(10), c);
  EXPECT_EQ(m.answers.size(), 5u);
  // EDNS above 512 and TCP are not limited by it.
  m = ask_service(query("web.service.consul", type::kA, {.edns = true, .payload = 1232}), many(10),
                  c);
  EXPECT_EQ(m.answers.size(), 10u);
  EXPECT_FALSE(m.header.tc);
  m = ask_service(query("web.service.consul", type::kA), many(10), c, Transport::kTcp);
  EXPECT_EQ(m.answers.size(), 10u);
  // SRV over UDP: its additional records follow the kept answers only.
  c.udp_answer_limit = 3;
  m = ask_service(query("web.service.consul", type::kSrv), many(10), c);
  ASSERT_EQ(m.answers.size(), 3u);
  std::set<std::string> targets, extra;
  for (const auto& r : m.answers) targets.insert(to_text(std::get<RdataSrv>(r.rdata).target));
  for (const auto& r : m.additional) extra.insert(to_text(r.name));
  EXPECT_EQ(targets, extra);
}

TEST(DnsService, TruncationWithFiftyInstances) {
  auto c = config();
  c.udp_answer_limit = 1000;  // only the size limit
  c.enable_truncate = true;
  const Bytes q = query("web.service.consul", type::kA);
  Parsed p = plan(q, Transport::kUdp, c);
  Rng rng(3);
  Bytes packet = answer_service(p, std::get<ServiceLookup>(p.step), many(50), c, rng);
  EXPECT_LE(packet.size(), 512u);
  auto m = decoded(packet);
  EXPECT_TRUE(m.header.tc);
  EXPECT_GT(m.answers.size(), 10u);
  EXPECT_LT(m.answers.size(), 50u);
  // The same over TCP: all 50, no TC.
  m = ask_service(q, many(50), c, Transport::kTcp);
  EXPECT_EQ(m.answers.size(), 50u);
  EXPECT_FALSE(m.header.tc);
  // Without enable_truncate the answer is cut the same way, silently.
  c.enable_truncate = false;
  m = ask_service(q, many(50), c);
  EXPECT_FALSE(m.header.tc);
  EXPECT_LT(m.answers.size(), 50u);
  // SRV with EDNS 1232: whole SRV records dropped, TC set, additional only for kept targets.
  c.enable_truncate = true;
  packet =
      answer_service(plan(query("web.service.consul", type::kSrv, {.edns = true, .payload = 1232}),
                          Transport::kUdp, c),
                     ServiceLookup{"web", "", "dc1", false}, many(50), c, rng);
  EXPECT_LE(packet.size(), 1232u);
  m = decoded(packet);
  EXPECT_TRUE(m.header.tc);
  EXPECT_LT(m.answers.size(), 50u);
  ASSERT_TRUE(m.edns);
  std::set<std::string> targets;
  for (const auto& r : m.answers) targets.insert(to_text(std::get<RdataSrv>(r.rdata).target));
  for (const auto& r : m.additional) EXPECT_TRUE(targets.count(to_text(r.name))) << to_text(r.name);
}

TEST(DnsService, ARecordLimit) {
  auto c = config();
  c.a_record_limit = 2;
  auto m = ask_service(query("web.service.consul", type::kA), many(10), c, Transport::kTcp);
  EXPECT_EQ(m.answers.size(), 2u);
  EXPECT_FALSE(m.header.tc);
  m = ask_service(query("web.service.consul", type::kSrv), many(10), c, Transport::kTcp);
  EXPECT_EQ(m.answers.size(), 10u);  // never SRV
}

TEST(DnsService, Ttls) {
  auto c = config();
  c.service_ttl = {{"*", 5}, {"web", 30}, {"db-*", 7}, {"db-primary*", 9}};
  EXPECT_EQ(service_ttl_for(c, "web"), 30u);
  EXPECT_EQ(service_ttl_for(c, "WEB"), 30u);
  EXPECT_EQ(service_ttl_for(c, "web2"), 5u);
  EXPECT_EQ(service_ttl_for(c, "db-replica"), 7u);
  EXPECT_EQ(service_ttl_for(c, "db-primary-2"), 9u);
  EXPECT_EQ(service_ttl_for(config(), "web"), 0u);
  auto m = ask_service(query("db-x.service.consul", type::kSrv), {inst("n", "10.0.0.1")}, c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ttl, 7u);
  ASSERT_FALSE(m.additional.empty());
  EXPECT_EQ(m.additional[0].ttl, 7u);
  c.node_ttl = 11;
  NodeInfo n{"n", "10.0.0.1", "dc1", {}, {}};
  auto nm = ask_node(query("n.node.consul", type::kA), n, c);
  ASSERT_EQ(nm.answers.size(), 1u);
  EXPECT_EQ(nm.answers[0].ttl, 11u);
}

TEST(DnsService, NodataWithSoa) {
  const auto c = config();
  auto m = ask_service(query("web.service.consul", type::kAaaa), many(3), c);
  EXPECT_EQ(m.header.rcode, rcode::kNoError);
  EXPECT_TRUE(m.answers.empty());
  expect_soa_authority(m);
  m = ask_service(query("web.service.consul", type::kMx), many(3), c);
  EXPECT_EQ(m.header.rcode, rcode::kNoError);
  expect_soa_authority(m);
}

TEST(DnsService, CasePreserved) {
  const auto c = config();
  auto m = ask_service(query("WeB.SeRvIcE.CoNsUl.", type::kSrv), {inst("Node-1", "10.0.0.1")}, c);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(to_text(m.questions[0].name), "WeB.SeRvIcE.CoNsUl.");
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(to_text(m.answers[0].name), "WeB.SeRvIcE.CoNsUl.");
  EXPECT_EQ(to_text(std::get<RdataSrv>(m.answers[0].rdata).target), "Node-1.node.dc1.CoNsUl.");
}

TEST(DnsService, DatacenterLabelInTargets) {
  const auto c = config();
  auto m = ask_service(query("web.service.dc2.consul", type::kSrv), {inst("n1", "10.0.0.1")}, c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(to_text(std::get<RdataSrv>(m.answers[0].rdata).target), "n1.node.dc2.consul.");
}

TEST(DnsService, Rfc2782) {
  const auto c = config();
  Instance tagged = inst("n1", "10.0.0.1", 5432);
  tagged.tags = {"primary"};
  auto m = ask_service(query("_db._primary.service.consul", type::kSrv), {tagged}, c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(std::get<RdataSrv>(m.answers[0].rdata).port, 5432);
  EXPECT_EQ(to_text(m.answers[0].name), "_db._primary.service.consul.");
}

TEST(DnsService, SrvTargets) {
  auto c = config();
  Instance same = inst("n1", "10.0.0.1", 80);
  same.service_address = "10.0.0.1";
  same.node_meta = {{"rack", "r1"}, {"rfc1035-raw", "plain"}};
  Instance own = inst("n2", "10.0.0.2", 81);
  own.service_address = "192.168.1.10";
  Instance host = inst("n3", "10.0.0.3", 82);
  host.service_address = "db.example.com";
  auto m =
      ask_service(query("web.service.consul", type::kSrv), {same, own, host}, c, Transport::kTcp);
  ASSERT_EQ(m.answers.size(), 3u);
  std::map<std::uint16_t, std::string> target;
  for (const auto& r : m.answers) {
    const auto& srv = std::get<RdataSrv>(r.rdata);
    target[srv.port] = to_text(srv.target);
    EXPECT_EQ(srv.priority, 1);
    EXPECT_EQ(srv.weight, 1);
  }
  EXPECT_EQ(target[80], "n1.node.dc1.consul.");
  EXPECT_EQ(target[81], "c0a8010a.addr.dc1.consul.");
  EXPECT_EQ(target[82], "db.example.com.");
  std::multiset<std::string> extra;
  for (const auto& r : m.additional) {
    if (r.rrtype == type::kA) extra.insert(to_text(r.name) + " A " + addr_of(r));
    if (r.rrtype == type::kTxt) {
      extra.insert(to_text(r.name) + " TXT " + std::get<RdataTxt>(r.rdata).strings.at(0));
    }
  }
  EXPECT_EQ(extra,
            (std::multiset<std::string>{
                "n1.node.dc1.consul. A 10.0.0.1", "n1.node.dc1.consul. TXT rack=r1",
                "n1.node.dc1.consul. TXT plain", "c0a8010a.addr.dc1.consul. A 192.168.1.10"}));
  c.enable_additional_node_meta_txt = false;
  m = ask_service(query("web.service.consul", type::kSrv), {same}, c);
  ASSERT_EQ(m.additional.size(), 1u);
  EXPECT_EQ(m.additional[0].rrtype, type::kA);
}

TEST(DnsService, WarningWeightAndHostnameCname) {
  auto c = config();
  Instance w = inst("n1", "10.0.0.1", 80, HealthStatus::kWarning);
  w.weight_passing = 10;
  w.weight_warning = 2;
  auto m = ask_service(query("web.service.consul", type::kSrv), {w}, c);
  EXPECT_EQ(std::get<RdataSrv>(m.answers.at(0).rdata).weight, 2);
  Instance host = inst("n3", "10.0.0.3");
  host.service_address = "db.example.com";
  m = ask_service(query("web.service.consul", type::kA), {host}, c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].rrtype, type::kCname);
  EXPECT_EQ(to_text(std::get<RdataName>(m.answers[0].rdata).name), "db.example.com.");
}

TEST(DnsService, DuplicateAddressesAnsweredOnce) {
  const auto c = config();
  auto m = ask_service(query("web.service.consul", type::kA),
                       {inst("n1", "10.0.0.1", 80), inst("n1", "10.0.0.1", 81)}, c);
  EXPECT_EQ(m.answers.size(), 1u);
}

TEST(DnsService, FlagsAndTaggedAddresses) {
  auto c = config();
  c.recursors = true;
  Instance v6 = inst("n1", "10.0.0.1");
  v6.node_tagged_addresses = {{"lan_ipv6", "2001:db8::1"}};
  auto m = ask_service(query("web.service.consul", type::kAaaa, {.rd = false}), {v6}, c);
  EXPECT_TRUE(m.header.ra);
  EXPECT_FALSE(m.header.rd);
  EXPECT_TRUE(m.header.aa);
  EXPECT_TRUE(m.header.qr);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].rrtype, type::kAaaa);
  m = ask_service(query("web.service.consul", type::kA), {v6}, c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(addr_of(m.answers[0]), "10.0.0.1");
}

// ---- nodes ----

TEST(DnsNode, Lookups) {
  auto c = config();
  NodeInfo n{
      "web-1", "10.0.0.7", "dc1", {{"lan_ipv6", "::1"}}, {{"env", "prod"}, {"rfc1035-x", "y"}}};
  auto m = ask_node(query("WEB-1.node.consul", type::kA), n, c);
  EXPECT_TRUE(m.header.aa);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(addr_of(m.answers[0]), "10.0.0.7");
  EXPECT_EQ(to_text(m.answers[0].name), "WEB-1.node.consul.");
  EXPECT_EQ(m.additional.size(), 2u);  // the meta as TXT
  c.enable_additional_node_meta_txt = false;
  EXPECT_TRUE(ask_node(query("web-1.node.consul", type::kA), n, c).additional.empty());
  m = ask_node(query("web-1.node.consul", type::kAaaa), n, c);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].rrtype, type::kAaaa);
  m = ask_node(query("web-1.node.consul", type::kTxt), n, c);
  ASSERT_EQ(m.answers.size(), 2u);
  std::set<std::string> txt;
  for (const auto& r : m.answers) txt.insert(std::get<RdataTxt>(r.rdata).strings.at(0));
  EXPECT_EQ(txt, (std::set<std::string>{"env=prod", "y"}));
  m = ask_node(query("web-1.node.consul", type::kAny), n, c);
  EXPECT_EQ(m.answers.size(), 3u);
  m = ask_node(query("nope.node.consul", type::kA), std::nullopt, c);
  EXPECT_EQ(m.header.rcode, rcode::kNxDomain);
  expect_soa_authority(m);
  NodeInfo v4only{"a", "10.0.0.8", "dc1", {}, {}};
  m = ask_node(query("a.node.consul", type::kAaaa), v4only, c);
  EXPECT_EQ(m.header.rcode, rcode::kNoError);
  expect_soa_authority(m);
}

// ---- helpers ----

TEST(DnsHelpers, ServfailAndWithId) {
  const auto c = config();
  Parsed p = plan(query("example.com", type::kA), Transport::kUdp, c);
  auto m = decoded(servfail(p));
  EXPECT_EQ(m.header.rcode, rcode::kServFail);
  EXPECT_EQ(m.header.id, 0x1234);
  ASSERT_EQ(m.questions.size(), 1u);
  const Bytes relayed = with_id(query("x", type::kA, {.id = 1}), 0xBEEF);
  EXPECT_EQ(decoded(relayed).header.id, 0xBEEF);
  EXPECT_EQ(with_id(Bytes{1}, 5), Bytes{1});
}

TEST(DnsHelpers, ParseIp) {
  EXPECT_TRUE(parse_ip("10.0.0.1"));
  EXPECT_FALSE(parse_ip("10.0.0"));
  EXPECT_FALSE(parse_ip("10.0.0.256"));
  EXPECT_FALSE(parse_ip("10.0.0.01"));
  EXPECT_FALSE(parse_ip("10.0.0.1."));
  EXPECT_FALSE(parse_ip("host.example"));
  EXPECT_FALSE(parse_ip(""));
  auto v6 = parse_ip("2001:db8::ff00:42:8329");
  ASSERT_TRUE(v6);
  const auto& a = std::get<RdataAaaa>(*v6).address;
  EXPECT_EQ(a[0], 0x20);
  EXPECT_EQ(a[1], 0x01);
  EXPECT_EQ(a[14], 0x83);
  EXPECT_EQ(a[15], 0x29);
  EXPECT_TRUE(parse_ip("::"));
  EXPECT_TRUE(parse_ip("::1"));
  EXPECT_TRUE(parse_ip("::ffff:10.0.0.1"));
  EXPECT_TRUE(parse_ip("1:2:3:4:5:6:7:8"));
  EXPECT_FALSE(parse_ip("1:2:3:4:5:6:7"));
  EXPECT_FALSE(parse_ip("1:2:3:4:5:6:7:8:9"));
  EXPECT_FALSE(parse_ip("1::2::3"));
  EXPECT_FALSE(parse_ip("1:2:3:4:5:6:7::8"));
  EXPECT_FALSE(parse_ip(":1"));
  EXPECT_FALSE(parse_ip("1:"));
  EXPECT_FALSE(parse_ip("12345::"));
}

// ---- from the catalog ----

TEST(DnsCatalog, InstancesAndNodesFromState) {
  catalog::CatalogState state;
  std::uint64_t index = 0;
  auto reg = [&](const std::string& node, const std::string& addr, const std::string& svc,
                 std::vector<std::string> tags, HealthStatus node_check, HealthStatus svc_check) {
    catalog::Register r;
    r.node.name = node;
    r.node.address = addr;
    r.node.datacenter = "dc1";
    r.node.meta = {{"k", "v"}};
    catalog::ServiceDef s;
    s.id = svc + "-" + node;
    s.name = svc;
    s.tags = std::move(tags);
    s.port = 8080;
    r.service = s;
    catalog::CheckDef nc;
    nc.check_id = "serfHealth";
    nc.name = "serf";
    nc.status = node_check;
    catalog::CheckDef sc;
    sc.check_id = "svc-" + node;
    sc.name = "svc";
    sc.status = svc_check;
    sc.service_id = s.id;
    r.checks = {nc, sc};
    ASSERT_TRUE(state.apply_register(++index, r).error.empty());
  };
  reg("n1", "10.0.0.1", "Web", {"Primary"}, HealthStatus::kPassing, HealthStatus::kPassing);
  reg("n2", "10.0.0.2", "Web", {"secondary"}, HealthStatus::kWarning, HealthStatus::kPassing);
  reg("n3", "10.0.0.3", "Web", {}, HealthStatus::kPassing, HealthStatus::kCritical);
  reg("n4", "10.0.0.4", "db", {}, HealthStatus::kPassing, HealthStatus::kPassing);
  auto all = instances_from(state, ServiceLookup{"web", "", "dc1", false});
  ASSERT_EQ(all.size(), 3u);
  std::map<std::string, HealthStatus> health;
  for (const auto& i : all) health[i.node] = i.health;
  EXPECT_EQ(health["n1"], HealthStatus::kPassing);
  EXPECT_EQ(health["n2"], HealthStatus::kWarning);
  EXPECT_EQ(health["n3"], HealthStatus::kCritical);
  auto tagged = instances_from(state, ServiceLookup{"web", "primary", "dc1", false});
  ASSERT_EQ(tagged.size(), 1u);
  EXPECT_EQ(tagged[0].node, "n1");
  EXPECT_EQ(tagged[0].port, 8080);
  EXPECT_EQ(tagged[0].node_meta.at("k"), "v");
  EXPECT_TRUE(instances_from(state, ServiceLookup{"nope", "", "dc1", false}).empty());
  auto node = node_from(state, "N2");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->node, "n2");
  EXPECT_EQ(node->address, "10.0.0.2");
  EXPECT_FALSE(node_from(state, "n9"));
  // End to end over the state: the critical instance is not answered.
  const auto c = config();
  auto m = ask_service(query("web.service.consul", type::kA), all, c, Transport::kTcp);
  EXPECT_EQ(m.answers.size(), 2u);
}

// ---- properties ----

RC_GTEST_PROP(DnsResolverProperty, AnyPacketGivesAWellFormedReplyOrNone, ()) {
  const auto c = config();
  const bool tcp = *rc::gen::arbitrary<bool>();
  Bytes packet;
  if (*rc::gen::arbitrary<bool>()) {
    packet = *rc::gen::container<Bytes>(rc::gen::arbitrary<std::uint8_t>());
  } else {
    const auto name = *rc::gen::elementOf(std::vector<std::string>{
        "web.service.consul", "_web._tcp.service.dc1.consul", "n.node.consul", "consul",
        "7f000001.addr.consul", "a.b.c.consul", "example.org", "x.query.consul"});
    const auto qt = *rc::gen::elementOf(std::vector<std::uint16_t>{
        type::kA, type::kAaaa, type::kSrv, type::kTxt, type::kAny, type::kSoa, type::kNs, 99});
    packet = query(name, qt,
                   {.edns = *rc::gen::arbitrary<bool>(),
                    .payload = *rc::gen::arbitrary<std::uint16_t>(),
                    .id = *rc::gen::arbitrary<std::uint16_t>()});
    // Sometimes flip a byte.
    if (*rc::gen::arbitrary<bool>()) {
      packet[*rc::gen::inRange<std::size_t>(0, packet.size())] ^=
          *rc::gen::arbitrary<std::uint8_t>();
    }
  }
  Parsed p = plan(packet, tcp ? Transport::kTcp : Transport::kUdp, c);
  Bytes reply;
  if (auto* r = std::get_if<Reply>(&p.step)) {
    reply = r->packet;
  } else if (auto* l = std::get_if<ServiceLookup>(&p.step)) {
    Rng rng(*rc::gen::arbitrary<std::uint64_t>());
    reply = answer_service(p, *l, many(*rc::gen::inRange(0, 60)), c, rng);
  } else if (auto* n = std::get_if<NodeLookup>(&p.step)) {
    reply = answer_node(p, *n, NodeInfo{"n", "10.0.0.1", "dc1", {}, {{"a", "b"}}}, c);
  } else {
    reply = servfail(p);
  }
  if (reply.empty()) return;
  RC_ASSERT(reply.size() <= p.max_response);
  auto m = decode(reply);
  RC_ASSERT(m.has_value());
  RC_ASSERT(m->header.qr);
  RC_ASSERT(m->header.id == peek_header(packet)->id);
}

}  // namespace
}  // namespace praetor::dns
