// Consul's DNS interface as pure functions (consul-compat: agent DNS): which name means what, and
// the reply to send. Two steps, so the agent can fetch data in between (a server reads its
// catalog at once; a client agent asks a server, asynchronously):
//
//   Parsed p = plan(packet, transport, config);
//   switch on p.step:
//     Reply        -> send p.step's packet as it is (an EMPTY packet means: send nothing)
//     ServiceLookup-> fetch instances (instances_from on a server, /v1/health/service on a
//                     client), then send answer_service(p, lookup, instances, config, rng)
//     NodeLookup   -> fetch the node (node_from / /v1/catalog/node), then answer_node(...)
//     Recurse      -> ask the recursors; relay their answer with with_id(answer, p.query id),
//                     or send servfail(p) when none answers
//   A fetch that fails: servfail(p).
//
// Names (labels matched case-insensitively; the reply keeps the query's case in the question and
// in owner names):
//   [<tag>.]<service>.service[.<dc>].<domain>      A, AAAA, SRV, TXT, ANY
//   _<service>._<tag|tcp|udp>.service[.<dc>].<domain>   RFC 2782 (_tcp/_udp: no tag filter)
//   <node>.node[.<dc>].<domain>                    A, AAAA, TXT, ANY
//   <hex ip>.addr[.<dc>].<domain>                  A (8 hex digits), AAAA (32 hex digits)
//   <domain>                                       SOA, NS (and ANY: both)
// The label after `service`/`node`/`addr` is the datacenter when there is one; it is not checked
// against known datacenters here (the agent does that). Any other name in our domains is
// NXDOMAIN with the SOA in authority; names outside them are Recurse with recursors, REFUSED
// without (docs/decisions.md D53).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/rng.hpp"
#include "core/catalog/command.hpp"
#include "core/dns/message.hpp"

namespace praetor::catalog {
class CatalogState;
}

namespace praetor::dns {

enum class Transport : std::uint8_t { kUdp, kTcp };

// The UDP answer size we never exceed, whatever EDNS payload a query advertises: bigger answers
// fragment and make a spoofed query an amplifier (D52). TCP answers go up to 65535.
inline constexpr std::size_t kMaxUdpAnswer = 4096;
// The payload size our own OPT advertises.
inline constexpr std::uint16_t kOurUdpPayload = 4096;

struct ResolverConfig {            // filled by the agent from its AgentConfig
  std::string domain = "consul.";  // lowercase, with the trailing dot
  std::string alt_domain;          // lowercase, trailing dot; empty: none
  std::string datacenter;          // the agent's datacenter (lowercase)
  std::string node_name;           // the answering agent: the NS record's target
  std::string node_address;        // its address: the NS glue
  std::uint32_t node_ttl = 0;      // seconds
  // Service TTLs: an exact name wins; otherwise the longest key ending in '*' whose prefix the
  // name starts with ("*" alone is the default); otherwise 0. Keys compared lowercase.
  std::map<std::string, std::uint32_t> service_ttl;
  bool only_passing = false;
  bool enable_truncate = false;
  bool disable_compression = false;
  bool enable_additional_node_meta_txt = true;
  int udp_answer_limit = 3;
  int a_record_limit = 0;  // 0: no limit
  bool recursors = false;  // recursors are configured: out-of-domain names recurse, RA is set
  std::uint32_t soa_refresh = 3600, soa_retry = 600, soa_expire = 86400, soa_min_ttl = 0;
  std::uint32_t soa_serial = 0;  // Consul uses the current Unix time; the agent passes it in
};

struct ServiceLookup {
  std::string service;     // lowercase
  std::string tag;         // lowercase; empty: no tag filter
  std::string datacenter;  // lowercase; the agent's when the name has none
  bool rfc2782 = false;
};

struct NodeLookup {
  std::string node;        // lowercase
  std::string datacenter;  // lowercase
};

struct Recurse {};

struct Reply {
  Bytes packet;  // empty: send nothing
};

struct Parsed {
  Message query;  // the decoded query (empty when the packet did not decode)
  Transport transport = Transport::kUdp;
  std::size_t max_response = 512;  // the size the answer must fit in
  std::string domain;              // the config domain the name is in ("" when outside)
  bool recursion_available = false;
  std::variant<Reply, ServiceLookup, NodeLookup, Recurse> step;
};

Parsed plan(ByteView packet, Transport transport, const ResolverConfig& config);

// An instance of a service as DNS needs it: the agent fills these from the catalog (server) or
// from /v1/health/service JSON (client).
struct Instance {
  std::string node, node_address, datacenter;
  std::map<std::string, std::string> node_tagged_addresses, node_meta;
  std::string service_id, service_address;
  std::uint16_t port = 0;
  std::vector<std::string> tags;
  std::uint32_t weight_passing = 1, weight_warning = 1;
  catalog::HealthStatus health = catalog::HealthStatus::kPassing;  // worst of node + service checks
};

struct NodeInfo {
  std::string node, address, datacenter;
  std::map<std::string, std::string> tagged_addresses, meta;
};

// The reply to a ServiceLookup. Drops critical instances (and warning ones with only_passing),
// shuffles with `rng`, applies a_record_limit, udp_answer_limit and the size limit.
// Whether answer_service answers with `i`: not critical, and passing when only_passing is set.
bool answered(const Instance& i, const ResolverConfig& config);
Bytes answer_service(const Parsed& p, const ServiceLookup& l, std::vector<Instance> instances,
                     const ResolverConfig& c, Rng& rng);
// The reply to a NodeLookup; nullopt: no such node (NXDOMAIN).
Bytes answer_node(const Parsed& p, const NodeLookup& l, const std::optional<NodeInfo>& node,
                  const ResolverConfig& c);
// SERVFAIL echoing the question (a fetch failed, no recursor answered).
Bytes servfail(const Parsed& p);
// The packet with its id replaced (relaying a recursor's answer); shorter than 2 bytes: as is.
Bytes with_id(ByteView packet, std::uint16_t id);

// For server agents: the instances of l.service (name compared case-insensitively) carrying
// l.tag (case-insensitively), with the health of their checks. l.datacenter is not looked at:
// the state holds the local datacenter only.
std::vector<Instance> instances_from(const catalog::CatalogState& state, const ServiceLookup& l);
// The node whose name equals `node` case-insensitively (an exact match preferred).
std::optional<NodeInfo> node_from(const catalog::CatalogState& state, const std::string& node);

// Helpers, exposed for tests.
std::uint32_t service_ttl_for(const ResolverConfig& c, const std::string& service);
// Parses a dotted IPv4 or an IPv6 address; nullopt for anything else (a host name).
std::optional<std::variant<RdataA, RdataAaaa>> parse_ip(const std::string& text);

}  // namespace praetor::dns
