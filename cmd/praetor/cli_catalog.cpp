// `praetor catalog datacenters|nodes|services`: Consul's catalog listing commands, with their
// output layouts (one name a line; a columnized node table; a tab-aligned service/tags list).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "cmd/praetor/commands.hpp"

namespace praetor::cmd {
namespace {

using Json = nlohmann::json;

Result<AgentClient> connect(const HttpOptions& http) {
  auto client = AgentClient::create(http);
  if (!client) fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
  return client;
}

// -node-meta key=value, repeatable; sent as node-meta=key:value, as Consul's api client does.
void add_node_meta_flag(FlagSet& flags, std::vector<std::pair<std::string, std::string>>* out,
                        const char* usage) {
  flags.add("node-meta", usage, [out](const std::string& v) -> std::optional<std::string> {
    const auto eq = v.find('=');
    if (eq == std::string::npos) return fmt::format("missing \"=\" value in argument: {}", v);
    out->emplace_back(v.substr(0, eq), v.substr(eq + 1));
    return std::nullopt;
  });
}

std::string node_meta_query(const std::vector<std::pair<std::string, std::string>>& meta) {
  std::string q;
  for (const auto& [k, v] : meta) {
    q += fmt::format("{}node-meta={}", q.empty() ? "" : "&", escape_query(k + ":" + v));
  }
  return q;
}

void append_query(std::string& query, const std::string& part) {
  if (!part.empty()) query += (query.empty() ? "" : "&") + part;
}

bool too_many_arguments(const std::vector<std::string>& rest) {
  if (rest.empty()) return false;
  fmt::print(stderr, "Too many arguments (expected 0, got {})\n", rest.size());
  return true;
}

// Consul's mapToKV: "k1=v1, k2=v2", keys sorted.
std::string map_to_kv(const Json& map) {
  if (!map.is_object()) return "";
  std::vector<std::string> parts;
  for (const auto& [k, v] : map.items()) {  // nlohmann's object keeps keys sorted
    parts.push_back(fmt::format("{}={}", k, v.is_string() ? v.get<std::string>() : v.dump()));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

int catalog_datacenters(Args args) {
  HttpOptions http;
  FlagSet flags("catalog datacenters");
  add_http_flags(flags, http);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor catalog datacenters [options]", flags);
  if (too_many_arguments(*rest)) return 1;
  auto client = connect(http);
  if (!client) return 1;
  auto r = client->call("GET", "/v1/catalog/datacenters");
  const Json doc = r && r->status == 200 ? Json::parse(r->body, nullptr, false) : Json();
  if (!r || r->status != 200 || !doc.is_array()) {
    // Consul prints this and still exits 0; a failed listing exits 1 here (decisions.md).
    fmt::print(stderr, "Error listing datacenters: {}\n",
               !r ? r.error().message
                  : (r->status != 200 ? unexpected_response(*r) : "malformed response"));
    return 1;
  }
  for (const auto& dc : doc) {
    if (dc.is_string()) fmt::print("{}\n", dc.get<std::string>());
  }
  return 0;
}

int catalog_nodes(Args args) {
  HttpOptions http;
  bool detailed = false;
  std::string near, service, filter;
  std::vector<std::pair<std::string, std::string>> node_meta;
  FlagSet flags("catalog nodes");
  add_http_flags(flags, http);
  flags.add_bool("detailed", &detailed,
                 "Output detailed information about the nodes including their addresses and "
                 "metadata.");
  flags.add_string("near", &near,
                   "Node name to sort the node list in ascending order based on estimated "
                   "round-trip time from that node. \"_agent\" uses this agent's node.");
  add_node_meta_flag(flags, &node_meta,
                     "Metadata to filter nodes with the given `key=value` pairs. May be repeated.");
  flags.add_string("service", &service,
                   "Service `id or name` to filter nodes. Only nodes which are providing the "
                   "given service will be returned.");
  flags.add_string("filter", &filter, "Filter expression sent with the request (?filter=).");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor catalog nodes [options]", flags);
  if (too_many_arguments(*rest)) return 1;
  auto client = connect(http);
  if (!client) return 1;
  std::string query = node_meta_query(node_meta);
  if (!near.empty()) append_query(query, "near=" + escape_query(near));
  if (!filter.empty()) append_query(query, "filter=" + escape_query(filter));

  // Rows of Consul's api.Node: with -service, built from the service's catalog entries (one per
  // instance, as Consul does: a node running two instances is listed twice).
  std::vector<Json> nodes;
  const std::string path =
      service.empty() ? "/v1/catalog/nodes" : "/v1/catalog/service/" + escape_path(service, false);
  auto r = client->call("GET", path, query);
  const Json doc = r && r->status == 200 ? Json::parse(r->body, nullptr, false) : Json();
  if (!r || r->status != 200 || !doc.is_array()) {
    fmt::print(stderr, "Error listing nodes{}: {}\n", service.empty() ? "" : " for service",
               !r ? r.error().message
                  : (r->status != 200 ? unexpected_response(*r) : "malformed response"));
    return 1;
  }
  for (const auto& e : doc) {
    if (!e.is_object()) continue;
    if (service.empty()) {
      nodes.push_back(e);
    } else {
      Json n = {{"ID", json_string(e, "ID")},
                {"Node", json_string(e, "Node")},
                {"Address", json_string(e, "Address")},
                {"Datacenter", json_string(e, "Datacenter")},
                {"TaggedAddresses", e.value("TaggedAddresses", Json::object())},
                {"Meta", e.value("NodeMeta", Json::object())}};
      nodes.push_back(std::move(n));
    }
  }
  if (nodes.empty()) {
    fmt::print(stderr, "No nodes match the given query - try expanding your search.\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  if (detailed) {
    rows.push_back({"Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"});
  } else {
    rows.push_back({"Node", "ID", "Address", "DC"});
  }
  for (const auto& n : nodes) {
    std::string id = json_string(n, "ID");
    if (detailed) {
      rows.push_back({json_string(n, "Node"), id, json_string(n, "Address"),
                      json_string(n, "Datacenter"), map_to_kv(n.value("TaggedAddresses", Json())),
                      map_to_kv(n.value("Meta", Json()))});
    } else {
      // The ID shortened to its first group, as Consul prints it without -detailed.
      if (const auto dash = id.find('-'); dash != std::string::npos && dash > 0) id.resize(dash);
      rows.push_back(
          {json_string(n, "Node"), id, json_string(n, "Address"), json_string(n, "Datacenter")});
    }
  }
  fmt::print("{}", columnize(rows));
  return 0;
}

int catalog_services(Args args) {
  HttpOptions http;
  bool tags = false;
  std::string node;
  std::vector<std::pair<std::string, std::string>> node_meta;
  FlagSet flags("catalog services");
  add_http_flags(flags, http);
  flags.add_string("node", &node, "Node `id or name` for which to list services.");
  add_node_meta_flag(flags, &node_meta,
                     "Metadata to filter nodes with the given `key=value` pairs. If specified, "
                     "only services running on nodes matching the given metadata will be "
                     "returned. May be repeated.");
  flags.add_bool("tags", &tags,
                 "Display each service's tags as a comma-separated list beside each service "
                 "entry.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor catalog services [options]", flags);
  if (too_many_arguments(*rest)) return 1;
  auto client = connect(http);
  if (!client) return 1;
  const std::string query = node_meta_query(node_meta);

  std::map<std::string, std::vector<std::string>> services;
  if (!node.empty()) {
    auto r = client->call("GET", "/v1/catalog/node/" + escape_path(node, false), query);
    const Json doc = r && r->status == 200 ? Json::parse(r->body, nullptr, false) : Json();
    if (!r || r->status != 200 || doc.is_discarded()) {
      fmt::print(stderr, "Error listing services for node: {}\n",
                 !r ? r.error().message
                    : (r->status != 200 ? unexpected_response(*r) : "malformed response"));
      return 1;
    }
    // An unknown node is `null`: no services, not an error.
    if (doc.is_object() && doc.contains("Services") && doc["Services"].is_object()) {
      for (const auto& [id, s] : doc["Services"].items()) {
        auto& list = services[json_string(s, "Service")];
        if (const auto t = s.find("Tags"); t != s.end() && t->is_array()) {
          for (const auto& tag : *t) {
            if (tag.is_string()) list.push_back(tag.get<std::string>());
          }
        }
      }
    }
  } else {
    auto r = client->call("GET", "/v1/catalog/services", query);
    const Json doc = r && r->status == 200 ? Json::parse(r->body, nullptr, false) : Json();
    if (!r || r->status != 200 || !doc.is_object()) {
      fmt::print(stderr, "Error listing services: {}\n",
                 !r ? r.error().message
                    : (r->status != 200 ? unexpected_response(*r) : "malformed response"));
      return 1;
    }
    for (const auto& [name, t] : doc.items()) {
      auto& list = services[name];
      if (!t.is_array()) continue;
      for (const auto& tag : t) {
        if (tag.is_string()) list.push_back(tag.get<std::string>());
      }
    }
  }
  if (services.empty()) {
    fmt::print(stderr, "No services match the given query - try expanding your search.\n");
    return 0;
  }
  if (!tags) {
    for (const auto& [name, list] : services) fmt::print("{}\n", name);
    return 0;
  }
  // Go's tabwriter (padding 6) over "name\ttags" lines, then the whole text trimmed: names are
  // padded to the longest plus six, and only the last line loses its trailing blanks.
  std::size_t width = 0;
  for (const auto& [name, list] : services) width = std::max(width, name.size());
  std::string out;
  for (auto& [name, list] : services) {
    std::sort(list.begin(), list.end());
    out += fmt::format("{:<{}}{}\n", name, width + 6, fmt::join(list, ","));
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  fmt::print("{}\n", out);
  return 0;
}

}  // namespace

int run_catalog(Args args) {
  const auto usage = [] {
    fmt::print(stderr,
               "Usage: praetor catalog <subcommand> [options] [args]\n\n"
               "Subcommands:\n"
               "    datacenters    Lists all known datacenters\n"
               "    nodes          Lists all nodes in the given datacenter\n"
               "    services       Lists all registered services in a datacenter\n");
    return 1;
  };
  if (args.empty()) return usage();
  const std::string& sub = args[0];
  const Args rest = args.subspan(1);
  if (sub == "datacenters") return catalog_datacenters(rest);
  if (sub == "nodes") return catalog_nodes(rest);
  if (sub == "services") return catalog_services(rest);
  fmt::print(stderr, "Unknown catalog subcommand: {}\n", sub);
  return 1;
}

}  // namespace praetor::cmd
