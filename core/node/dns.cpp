// The agent's DNS interface: queries arrive as frames on Channel::kDns (UDP) and kDnsStream (TCP,
// the host strips and adds the length prefix) and the answer goes back to the sender on the
// same channel. The pure resolver (core/dns) decides what a name means and builds the reply;
// this file fetches the data in between (D60):
//   - a server in the queried datacenter with allow_stale reads its own catalog at once (any
//     server answers, as Consul's stale DNS reads do);
//   - a client agent, another datacenter, or allow_stale off: an internal request through the
//     agent's own route table (GET /v1/health/service/<name> or /v1/catalog/node/<node>), which
//     forwards to a server like any HTTP request, and the answer is built from its JSON;
//   - names outside the DNS domains go to the recursors, one after another, each given
//     dns_config.recursor_timeout; the first NOERROR or NXDOMAIN answer is relayed with the
//     client's id (any other rcode counts as no answer, as in Consul), and SERVFAIL goes back
//     when none answers.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/base/assert.hpp"
#include "core/dns/resolver.hpp"
#include "core/node/agent.hpp"
#include "core/node/json_read.hpp"

namespace praetor::node {
namespace {

using json = nlohmann::json;
using json_read::string_at;
using json_read::string_map_at;
using json_read::uint_at;

std::string with_dot(std::string s) {
  if (s.empty() || s.back() != '.') s.push_back('.');
  return s;
}

std::uint32_t seconds_of(Duration d) {
  const std::int64_t s = d.count_ns() / 1'000'000'000;
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(s, 0, 0x7fffffff));
}

catalog::HealthStatus worst_status(const json& checks) {
  catalog::HealthStatus worst = catalog::HealthStatus::kPassing;
  if (!checks.is_array()) return worst;
  for (const json& c : checks) {
    const std::string status = c.is_object() ? string_at(c, "Status") : std::string();
    if (status == "critical") return catalog::HealthStatus::kCritical;
    if (status == "warning") worst = catalog::HealthStatus::kWarning;
  }
  return worst;
}

// /v1/health/service/<name> as DNS instances; a body that is not the expected shape gives
// nullopt (the query then gets SERVFAIL, never a made-up answer).
std::optional<std::vector<dns::Instance>> instances_from_json(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (!doc.is_array()) return std::nullopt;
  std::vector<dns::Instance> out;
  out.reserve(doc.size());
  for (const json& entry : doc) {
    if (!entry.is_object()) return std::nullopt;
    auto node = entry.find("Node");
    auto service = entry.find("Service");
    if (node == entry.end() || !node->is_object() || service == entry.end() ||
        !service->is_object()) {
      return std::nullopt;
    }
    dns::Instance i;
    i.node = string_at(*node, "Node");
    i.node_address = string_at(*node, "Address");
    i.datacenter = string_at(*node, "Datacenter");
    i.node_tagged_addresses = string_map_at(*node, "TaggedAddresses");
    i.node_meta = string_map_at(*node, "Meta");
    i.service_id = string_at(*service, "ID");
    i.service_address = string_at(*service, "Address");
    if (auto port = service->find("Port"); port != service->end() && port->is_number_unsigned()) {
      i.port = static_cast<std::uint16_t>(std::min<std::uint64_t>(port->get<std::uint64_t>(), 65535));
    }
    if (auto tags = service->find("Tags"); tags != service->end() && tags->is_array()) {
      for (const json& t : *tags) {
        if (t.is_string()) i.tags.push_back(t.get<std::string>());
      }
    }
    if (auto w = service->find("Weights"); w != service->end() && w->is_object()) {
      i.weight_passing = uint_at(*w, "Passing", 1);
      i.weight_warning = uint_at(*w, "Warning", 1);
    }
    i.health = worst_status(entry.value("Checks", json::array()));
    out.push_back(std::move(i));
  }
  return out;
}

// /v1/catalog/node/<node>: {"Node": {...}, "Services": {...}}, or null for an unknown node.
std::optional<std::optional<dns::NodeInfo>> node_from_json(const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_null()) return std::optional<dns::NodeInfo>();
  if (!doc.is_object()) return std::nullopt;
  auto node = doc.find("Node");
  if (node == doc.end() || !node->is_object()) return std::nullopt;
  dns::NodeInfo info;
  info.node = string_at(*node, "Node");
  info.address = string_at(*node, "Address");
  info.datacenter = string_at(*node, "Datacenter");
  info.tagged_addresses = string_map_at(*node, "TaggedAddresses");
  info.meta = string_map_at(*node, "Meta");
  return std::optional<dns::NodeInfo>(std::move(info));
}

// Path segments of names that came from DNS labels: anything but unreserved characters is
// percent-encoded, so a label cannot add a path or a query to the internal request.
std::string path_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

HttpRequest dns_request(std::string_view prefix, const std::string& name,
                        std::map<std::string, std::string> query) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::string(prefix) + name;
  r.raw_path = std::string(prefix) + path_escape(name);
  for (auto& [k, v] : query) r.query.emplace_back(k, v);
  r.remote = "dns";
  return r;
}

}  // namespace

dns::ResolverConfig Agent::resolver_config() const {
  dns::ResolverConfig c;
  c.domain = dns::lowercase(with_dot(config_.domain));
  c.alt_domain =
      config_.alt_domain.empty() ? std::string() : dns::lowercase(with_dot(config_.alt_domain));
  c.datacenter = dns::lowercase(config_.datacenter);
  c.node_name = config_.node_name;
  c.node_address = advertise_address();
  const DnsConfig& d = config_.dns_config;
  c.node_ttl = seconds_of(d.node_ttl);
  for (const auto& [name, ttl] : d.service_ttl)
    c.service_ttl[dns::lowercase(name)] = seconds_of(ttl);
  c.only_passing = d.only_passing;
  c.enable_truncate = d.enable_truncate;
  c.disable_compression = d.disable_compression;
  c.enable_additional_node_meta_txt = d.enable_additional_node_meta_txt;
  c.udp_answer_limit = d.udp_answer_limit;
  c.a_record_limit = d.a_record_limit;
  c.recursors = !recursors_.empty();
  c.soa_refresh = d.soa_refresh;
  c.soa_retry = d.soa_retry;
  c.soa_expire = d.soa_expire;
  c.soa_min_ttl = d.soa_min_ttl;
  return c;
}

void Agent::configure_dns() {
  recursors_.clear();
  for (const std::string& text : config_.recursors) {
    auto endpoint = parse_endpoint(text, 53);
    if (!endpoint) {
      env_->logger.warn("agent", "dns: ignoring recursor {:?}: {}", text, endpoint.error().message);
      continue;
    }
    recursors_.push_back(*endpoint);
  }
  resolver_ = resolver_config();
  dns_cache_.clear();  // answers built with the old settings
}

void Agent::on_dns_frame(const Endpoint& from, Channel channel, Bytes payload) {
  if (stopping_ || served_dns_port(config_) <= 0) return;
  // An answer (QR set) from a recursor we asked: relay it. Over TCP too: a TCP client's query goes
  // to the recursors over TCP, as in Consul, so that an answer too big for UDP arrives whole.
  if (auto header = dns::peek_header(payload); header && header->qr) {
    on_recursor_answer(from, *header, std::move(payload));
    return;
  }
  const bool tcp = channel == Channel::kDnsStream;
  if (dns_cache_.entries() > 0 && answers_locally(resolver_.datacenter)) {
    if (auto kept = dns_cache_.find(payload, tcp, fsm_.catalog().max_index())) {
      env_->network.send(from, channel, std::move(*kept));
      return;
    }
  }
  const dns::Transport transport = tcp ? dns::Transport::kTcp : dns::Transport::kUdp;
  // The SOA serial: Consul's is the current Unix time.
  resolver_.soa_serial = static_cast<std::uint32_t>(env_->clock.wall().unix_ns / 1'000'000'000);
  dns::Parsed parsed = dns::plan(payload, transport, resolver_);
  if (auto* reply = std::get_if<dns::Reply>(&parsed.step)) {
    if (!reply->packet.empty()) env_->network.send(from, channel, std::move(reply->packet));
    return;
  }
  if (auto* lookup = std::get_if<dns::ServiceLookup>(&parsed.step)) {
    dns::ServiceLookup l = *lookup;
    if (answers_locally(l.datacenter)) {
      auto instances = dns::instances_from(fsm_.catalog(), l);
      // One instance answered: nothing to shuffle, so the same query gets the same bytes until
      // the catalog changes (D63).
      const bool keep = std::count_if(instances.begin(), instances.end(), [&](const auto& i) {
                          return dns::answered(i, resolver_);
                        }) == 1;
      Bytes answer = dns::answer_service(parsed, l, std::move(instances), resolver_, local_rng_);
      if (keep) dns_cache_.store(payload, tcp, fsm_.catalog().max_index(), answer);
      env_->network.send(from, channel, std::move(answer));
      return;
    }
    std::map<std::string, std::string> query{{"dc", l.datacenter}};
    if (!l.tag.empty()) query["tag"] = l.tag;
    if (may_ask_stale(l.datacenter)) query["stale"] = "";
    auto shared = std::make_shared<dns::Parsed>(std::move(parsed));
    send_internal(dns_request("/v1/health/service/", l.service, std::move(query)),
                  [this, from, channel, shared, l](const HttpResponse& r) {
                    auto instances = r.status == 200 ? instances_from_json(r.body) : std::nullopt;
                    if (!instances) {
                      env_->logger.debug("agent", "dns: service lookup {} failed: {} {}",
                                         l.service, r.status, r.body);
                      env_->network.send(from, channel, dns::servfail(*shared));
                      return;
                    }
                    env_->network.send(from, channel,
                                       dns::answer_service(*shared, l, std::move(*instances),
                                                           resolver_, local_rng_));
                  });
    arm_timer();
    return;
  }
  if (auto* lookup = std::get_if<dns::NodeLookup>(&parsed.step)) {
    dns::NodeLookup l = *lookup;
    if (answers_locally(l.datacenter)) {
      env_->network.send(from, channel,
                         dns::answer_node(parsed, l, dns::node_from(fsm_.catalog(), l.node),
                                          resolver_));
      return;
    }
    std::map<std::string, std::string> query{{"dc", l.datacenter}};
    if (may_ask_stale(l.datacenter)) query["stale"] = "";
    auto shared = std::make_shared<dns::Parsed>(std::move(parsed));
    send_internal(dns_request("/v1/catalog/node/", l.node, std::move(query)),
                  [this, from, channel, shared, l](const HttpResponse& r) {
                    auto node = r.status == 200 ? node_from_json(r.body) : std::nullopt;
                    if (!node) {
                      env_->network.send(from, channel, dns::servfail(*shared));
                      return;
                    }
                    env_->network.send(from, channel,
                                       dns::answer_node(*shared, l, *node, resolver_));
                  });
    arm_timer();
    return;
  }
  PRAETOR_ASSERT(std::holds_alternative<dns::Recurse>(parsed.step));
  start_recursion(from, channel, std::move(payload), std::move(parsed));
}

bool Agent::answers_locally(const std::string& datacenter) const {
  // A server holds its datacenter's catalog. The leader answers from it; with allow_stale (the
  // default) so does a follower that heard from its leader within max_stale, as Consul's DNS
  // does. Otherwise the query goes through the route table to the leader (and SERVFAILs when
  // there is none).
  if (!config_.server || !raft_ || resolver_.datacenter != datacenter) return false;
  if (is_leader()) return true;
  if (!config_.dns_config.allow_stale) return false;
  const Instant contact = raft_->leader_contact();
  return contact != Instant::never() &&
         env_->clock.now() - contact <= config_.dns_config.max_stale;
}

bool Agent::may_ask_stale(const std::string& datacenter) const {
  // A server of this datacenter that did not answer locally is too stale (or has allow_stale
  // off): it must ask the leader, and ?stale would have it answer itself again. A client (or a
  // server asking another datacenter) may take any server's copy.
  if (!config_.dns_config.allow_stale) return false;
  return !(config_.server && resolver_.datacenter == datacenter);
}

void Agent::start_recursion(const Endpoint& client, Channel channel, Bytes query,
                            dns::Parsed parsed) {
  PRAETOR_ASSERT(!recursors_.empty());
  if (recursions_.size() >= kMaxDnsRecursions) {
    env_->network.send(client, channel, dns::servfail(parsed));
    return;
  }
  // Our own id towards the recursors: two clients may use the same id at once.
  std::uint16_t id = 0;
  do {
    id = static_cast<std::uint16_t>(local_rng_.uniform(65536));
  } while (recursions_.contains(id));
  Recursion r;
  r.client = client;
  r.channel = channel;
  r.client_id = parsed.query.header.id;
  r.query = dns::with_id(query, id);
  r.parsed = std::move(parsed);
  recursions_.emplace(id, std::move(r));
  ask_recursor(recursions_.at(id));
}

void Agent::ask_recursor(Recursion& r) {
  const Endpoint& to = recursors_[r.next_recursor % recursors_.size()];
  r.asked = to;
  ++r.next_recursor;
  r.deadline = env_->clock.now() + config_.dns_config.recursor_timeout;
  // Over the client's transport, as Consul (handleRecurse: "Switch to TCP if the client is").
  env_->network.send(to, r.channel, r.query);
  arm_timer();
}

void Agent::on_recursor_answer(const Endpoint& from, const dns::Header& header, Bytes answer) {
  auto it = recursions_.find(header.id);
  // Only the recursor asked may answer (a spoofed answer from elsewhere is dropped).
  if (it == recursions_.end() || it->second.asked != from) return;
  // As Consul (handleRecurse): an answer that is neither NOERROR nor NXDOMAIN (SERVFAIL,
  // REFUSED, ...) counts as none; the next recursor is asked, and SERVFAIL goes back when none
  // is left.
  if (header.rcode != dns::rcode::kNoError && header.rcode != dns::rcode::kNxDomain) {
    next_recursor_or_servfail(header.id, fmt::format("answered rcode {}", header.rcode));
    return;
  }
  Recursion r = std::move(it->second);
  recursions_.erase(it);
  env_->network.send(r.client, r.channel, dns::with_id(answer, r.client_id));
}

void Agent::expire_recursions(Instant now) {
  std::vector<std::uint16_t> expired;
  for (const auto& [id, r] : recursions_) {
    if (r.deadline <= now) expired.push_back(id);
  }
  for (std::uint16_t id : expired) next_recursor_or_servfail(id, "did not answer in time");
}

void Agent::next_recursor_or_servfail(std::uint16_t id, std::string_view why) {
  Recursion& r = recursions_.at(id);
  if (r.next_recursor < recursors_.size()) {
    env_->logger.debug("agent", "dns: recursor {} {}; trying the next", r.asked, why);
    ask_recursor(r);
    return;
  }
  env_->logger.warn("agent", "dns: no recursor answered for {} (the last {}); SERVFAIL",
                    r.parsed.query.questions.empty()
                        ? std::string("(no question)")
                        : dns::to_text(r.parsed.query.questions.front().name),
                    why);
  env_->network.send(r.client, r.channel, dns::servfail(r.parsed));
  recursions_.erase(id);
}

Instant Agent::recursion_deadline() const {
  Instant at = Instant::never();
  for (const auto& [id, r] : recursions_) at = std::min(at, r.deadline);
  return at;
}

}  // namespace praetor::node
