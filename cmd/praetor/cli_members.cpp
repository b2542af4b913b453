// Agent commands: members, join, leave, reload, info (consul-compat.md §2).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>

#include "cmd/praetor/commands.hpp"

namespace praetor::cmd {
namespace {

using Json = nlohmann::json;

std::string member_status(const Json& m) {
  // serf.MemberStatus: 0 none, 1 alive, 2 leaving, 3 left, 4 failed. Accept strings too.
  const auto it = m.find("Status");
  if (it == m.end()) return "none";
  if (it->is_string()) return it->get<std::string>();
  static const char* const kNames[] = {"none", "alive", "leaving", "left", "failed"};
  if (it->is_number_integer()) {
    const auto n = it->get<std::int64_t>();
    if (n >= 0 && n < 5) return kNames[n];
  }
  return "unknown";
}

std::string tag(const Json& m, const char* name) {
  const auto tags = m.find("Tags");
  if (tags == m.end() || !tags->is_object()) return "";
  const auto it = tags->find(name);
  return it != tags->end() && it->is_string() ? it->get<std::string>() : "";
}

std::string member_address(const Json& m) {
  const std::string addr = json_string(m, "Addr");
  const auto port = json_uint(m, "Port");
  // net.JoinHostPort: IPv6 in brackets.
  return addr.find(':') != std::string::npos ? fmt::format("[{}]:{}", addr, port)
                                             : fmt::format("{}:{}", addr, port);
}

std::vector<std::string> standard_row(const Json& m, bool wan) {
  const bool server = tag(m, "role") == "consul";
  std::string build = tag(m, "build");
  if (build.empty()) {
    build = "< 0.3";
  } else if (const auto colon = build.find(':'); colon != std::string::npos) {
    build = build.substr(0, colon);
  }
  std::string partition = wan ? "" : tag(m, "ap");
  if (!wan && partition.empty()) partition = "default";
  std::string segment = server ? "<all>" : tag(m, "segment");
  if (segment.empty()) segment = "<default>";
  return {json_string(m, "Name"),
          member_address(m),
          member_status(m),
          server ? "server" : "client",
          build,
          tag(m, "vsn"),
          tag(m, "dc"),
          partition,
          segment};
}

std::vector<std::string> detailed_row(const Json& m) {
  std::vector<std::string> tags;
  if (const auto t = m.find("Tags"); t != m.end() && t->is_object()) {
    for (const auto& [k, v] : t->items()) {
      tags.push_back(fmt::format("{}={}", k, v.is_string() ? v.get<std::string>() : v.dump()));
    }
  }
  std::sort(tags.begin(), tags.end());
  return {json_string(m, "Name"), member_address(m), member_status(m),
          fmt::format("{}", fmt::join(tags, ","))};
}

Result<AgentClient> connect(const HttpOptions& http) {
  auto client = AgentClient::create(http);
  if (!client) fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
  return client;
}

}  // namespace

int run_members(Args args) {
  HttpOptions http;
  bool wan = false, detailed = false;
  std::string status = ".*";
  FlagSet flags("members");
  add_http_flags(flags, http);
  flags.add_bool("wan", &wan, "List members in the WAN gossip pool (servers only).");
  flags.add_bool("detailed", &detailed, "Provide detailed information about each member.");
  flags.add_string("status", &status, "Only list members whose status matches this regexp.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor members [options]", flags);
  std::regex status_re;
  try {  // std::regex reports a bad pattern by exception; caught here at the edge.
    status_re = std::regex(status, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fmt::print(stderr, "Failed to compile status regexp: {}\n", e.what());
    return 1;
  }
  auto client = connect(http);
  if (!client) return 1;
  auto r = client->call("GET", "/v1/agent/members", wan ? "wan=1" : "");
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error retrieving members: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  Json doc = Json::parse(r->body, nullptr, false);
  if (!doc.is_array()) {
    fmt::print(stderr, "Error retrieving members: malformed response\n");
    return 1;
  }
  std::vector<Json> members;
  for (auto& m : doc) {
    if (m.is_object() && std::regex_search(member_status(m), status_re)) members.push_back(m);
  }
  if (members.empty()) return 2;  // Consul: no members matched the filter
  std::sort(members.begin(), members.end(), [](const Json& a, const Json& b) {
    return json_string(a, "Name") < json_string(b, "Name");
  });
  std::vector<std::vector<std::string>> rows;
  if (detailed) {
    rows.push_back({"Node", "Address", "Status", "Tags"});
    for (const auto& m : members) rows.push_back(detailed_row(m));
  } else {
    rows.push_back(
        {"Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"});
    for (const auto& m : members) rows.push_back(standard_row(m, wan));
  }
  fmt::print("{}", columnize(rows));
  return 0;
}

int run_join(Args args) {
  HttpOptions http;
  bool wan = false;
  FlagSet flags("join");
  add_http_flags(flags, http);
  flags.add_bool("wan", &wan, "Joins a server to another server in the WAN pool.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor join [options] address ...", flags);
  if (rest->empty()) {
    fmt::print(stderr, "At least one address to join must be specified.\n");
    return 1;
  }
  auto client = connect(http);
  if (!client) return 1;
  int joined = 0;
  for (const auto& addr : *rest) {
    auto r = client->call("PUT", "/v1/agent/join/" + escape_path(addr), wan ? "wan=1" : "");
    if (!r || r->status != 200) {
      fmt::print(stderr, "Error joining address '{}': {}\n", addr,
                 r ? unexpected_response(*r) : r.error().message);
      continue;
    }
    ++joined;
  }
  if (joined == 0) {
    fmt::print(stderr, "Failed to join any nodes.\n");
    return 1;
  }
  fmt::print("Successfully joined cluster by contacting {} nodes.\n", joined);
  return 0;
}

namespace {

// leave and reload: a PUT with no body, a fixed success line.
int simple_put(Args args, const char* name, const char* path, const char* success,
               const char* failure) {
  HttpOptions http;
  FlagSet flags(name);
  add_http_flags(flags, http);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), fmt::format("praetor {} [options]", name), flags);
  if (!rest->empty()) {
    fmt::print(stderr, "This command takes no arguments\n");
    return 1;
  }
  auto client = connect(http);
  if (!client) return 1;
  auto r = client->call("PUT", path);
  if (!r || r->status != 200) {
    fmt::print(stderr, "{}: {}\n", failure, r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  fmt::print("{}\n", success);
  return 0;
}

}  // namespace

int run_leave(Args args) {
  return simple_put(args, "leave", "/v1/agent/leave", "Graceful leave complete", "Error leaving");
}

int run_reload(Args args) {
  return simple_put(args, "reload", "/v1/agent/reload", "Configuration reload triggered",
                    "Error reloading");
}

int run_info(Args args) {
  HttpOptions http;
  FlagSet flags("info");
  add_http_flags(flags, http);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor info [options]", flags);
  auto client = connect(http);
  if (!client) return 1;
  auto r = client->call("GET", "/v1/agent/self");
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error querying agent: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  const Json doc = Json::parse(r->body, nullptr, false);
  const auto stats = doc.is_object() ? doc.find("Stats") : doc.end();
  if (!doc.is_object() || stats == doc.end() || !stats->is_object()) {
    fmt::print(stderr, "Error querying agent: no Stats in /v1/agent/self\n");
    return 1;
  }
  // The agent's security warning (an HTTP API open beyond loopback without ACLs) also goes to
  // stderr, where it is seen even when stdout is piped into a parser.
  if (const auto agent = stats->find("agent"); agent != stats->end()) {
    if (const auto warning = json_string(*agent, "security_warning"); !warning.empty()) {
      fmt::print(stderr, "WARNING: {}\n", warning);
    }
  }
  // Sections and keys sorted, "\tkey = value", as Consul prints them.
  for (const auto& [section, values] : stats->items()) {
    fmt::print("{}:\n", section);
    if (!values.is_object()) continue;
    for (const auto& [k, v] : values.items()) {
      fmt::print("\t{} = {}\n", k, v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  return 0;
}

int run_force_leave(Args args) {
  HttpOptions http;
  bool prune = false;
  FlagSet flags("force-leave");
  add_http_flags(flags, http);
  flags.add_bool("prune", &prune, "Remove the node from the member list entirely.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor force-leave [options] name", flags);
  if (rest->size() != 1) {
    fmt::print(stderr, "A single node name must be specified to force leave.\n");
    return 1;
  }
  auto client = connect(http);
  if (!client) return 1;
  auto r = client->call("PUT", "/v1/agent/force-leave/" + escape_path((*rest)[0]),
                        prune ? "prune=1" : "");
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error force leaving: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  return 0;  // silent on success, like Consul
}

}  // namespace praetor::cmd
