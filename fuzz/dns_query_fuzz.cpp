// Fuzzes the whole DNS query path: plan() on an arbitrary packet, then the answer it leads to
// over a fixed synthetic catalog (a few nodes and services with mixed health) plus a list of 40
// instances, under a configuration picked by the first input byte. Every reply must decode, be
// a response with the query's id, and fit the size plan() chose.
#include <cstdint>

#include "core/catalog/state.hpp"
#include "core/dns/resolver.hpp"

namespace {

using namespace praetor;

const catalog::CatalogState& state() {
  static const catalog::CatalogState s = [] {
    catalog::CatalogState st;
    std::uint64_t index = 0;
    const char* statuses = "pwcp";
    for (int i = 0; i < 8; ++i) {
      catalog::Register r;
      r.node.name = "node" + std::to_string(i);
      r.node.address =
          i % 3 == 0 ? "2001:db8::" + std::to_string(i + 1) : "10.0.0." + std::to_string(i + 1);
      r.node.datacenter = "dc1";
      r.node.meta = {{"rack", "r" + std::to_string(i % 2)}, {"rfc1035-x", "raw"}};
      r.node.tagged_addresses = {{"lan_ipv4", "10.1.0." + std::to_string(i + 1)}};
      catalog::ServiceDef sd;
      sd.name = i % 2 ? "Web" : "db";
      sd.id = sd.name + std::to_string(i);
      sd.tags = {i % 2 ? "primary" : "replica", "v1.2"};
      sd.port = static_cast<std::uint32_t>(8000 + i);
      if (i == 5) sd.address = "192.168.0.5";
      if (i == 6) sd.address = "db.example.com";
      r.service = sd;
      catalog::CheckDef c;
      c.check_id = "check" + std::to_string(i);
      c.name = "check";
      c.service_id = sd.id;
      c.status = statuses[i % 4] == 'p'   ? catalog::HealthStatus::kPassing
                 : statuses[i % 4] == 'w' ? catalog::HealthStatus::kWarning
                                          : catalog::HealthStatus::kCritical;
      r.checks = {c};
      PRAETOR_ASSERT(st.apply_register(++index, r).error.empty());
    }
    return st;
  }();
  return s;
}

std::vector<dns::Instance> synthetic(std::size_t n) {
  std::vector<dns::Instance> out;
  for (std::size_t i = 0; i < n; ++i) {
    dns::Instance in;
    in.node = "n" + std::to_string(i);
    in.node_address = "10.2." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    in.datacenter = "dc1";
    in.port = static_cast<std::uint16_t>(9000 + i);
    in.node_meta = {{"k", std::string(i % 7 * 40, 'm')}};
    out.push_back(std::move(in));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t sel = data[0];
  ByteView packet(data + 1, size - 1);
  dns::ResolverConfig c;
  c.datacenter = "dc1";
  c.node_name = "s1";
  c.node_address = "10.9.9.9";
  c.alt_domain = (sel & 0x01) ? "svc.example." : "";
  c.enable_truncate = (sel & 0x02) != 0;
  c.only_passing = (sel & 0x04) != 0;
  c.recursors = (sel & 0x08) != 0;
  c.disable_compression = (sel & 0x10) != 0;
  c.a_record_limit = (sel & 0x20) ? 2 : 0;
  c.udp_answer_limit = (sel & 0x40) ? 100 : 3;
  c.enable_additional_node_meta_txt = (sel & 0x80) == 0;
  c.service_ttl = {{"*", 5}, {"web", 30}};
  const dns::Transport t = (sel & 0x30) == 0x30 ? dns::Transport::kTcp : dns::Transport::kUdp;

  dns::Parsed p = dns::plan(packet, t, c);
  Rng rng(sel);
  Bytes reply;
  if (auto* r = std::get_if<dns::Reply>(&p.step)) {
    reply = r->packet;
  } else if (auto* l = std::get_if<dns::ServiceLookup>(&p.step)) {
    auto instances = dns::instances_from(state(), *l);
    if (l->service == "many") instances = synthetic(40);
    reply = dns::answer_service(p, *l, std::move(instances), c, rng);
  } else if (auto* n = std::get_if<dns::NodeLookup>(&p.step)) {
    reply = dns::answer_node(p, *n, dns::node_from(state(), n->node), c);
  } else {
    reply = dns::servfail(p);
  }
  if (reply.empty()) return 0;
  PRAETOR_ASSERT(reply.size() <= p.max_response);
  auto m = dns::decode(reply);
  PRAETOR_ASSERT_MSG(m.has_value(), "reply does not decode: {}", m.error().message);
  PRAETOR_ASSERT(m->header.qr);
  PRAETOR_ASSERT(m->header.id == dns::peek_header(packet)->id);
  return 0;
}
