// `praetor operator raft list-peers` and `praetor operator raft remove-peer`.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cmd/praetor/commands.hpp"

namespace praetor::cmd {
namespace {

using Json = nlohmann::json;

int raft_list_peers(Args args) {
  HttpOptions http;
  FlagSet flags("operator raft list-peers");
  add_http_flags(flags, http);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor operator raft list-peers [options]", flags);
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  auto r = client->call("GET", "/v1/operator/raft/configuration");
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error getting peers: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  const Json doc = Json::parse(r->body, nullptr, false);
  const auto servers = doc.is_object() ? doc.find("Servers") : doc.end();
  if (!doc.is_object() || servers == doc.end() || !servers->is_array()) {
    fmt::print(stderr, "Error getting peers: malformed response\n");
    return 1;
  }
  std::vector<std::vector<std::string>> rows = {
      {"Node", "ID", "Address", "State", "Voter", "RaftProtocol"}};
  for (const auto& s : *servers) {
    if (!s.is_object()) continue;
    std::string protocol = json_string(s, "ProtocolVersion");
    if (protocol.empty()) protocol = "<=1";
    rows.push_back({json_string(s, "Node"), json_string(s, "ID"), json_string(s, "Address"),
                    json_bool(s, "Leader") ? "leader" : "follower",
                    json_bool(s, "Voter") ? "true" : "false", protocol});
  }
  fmt::print("{}", columnize(rows));
  return 0;
}

int raft_remove_peer(Args args) {
  HttpOptions http;
  std::string address, id;
  FlagSet flags("operator raft remove-peer");
  add_http_flags(flags, http);
  flags.add_string("address", &address, "The address to remove from the Raft configuration.");
  flags.add_string("id", &id, "The ID to remove from the Raft configuration.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor operator raft remove-peer [options]", flags);
  if (address.empty() == id.empty()) {
    fmt::print(stderr, "Error removing peer: Must specify either -address or -id (not both)\n");
    return 1;
  }
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  const std::string target = "/v1/operator/raft/peer?" +
                             (id.empty() ? "address=" + escape_query(address)
                                         : "id=" + escape_query(id));
  auto r = client->call("DELETE", target);
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error removing peer: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  if (id.empty()) {
    fmt::print("Removed peer with address \"{}\"\n", address);
  } else {
    fmt::print("Removed peer with id \"{}\"\n", id);
  }
  return 0;
}

}  // namespace

int run_operator(Args args) {
  if (args.size() >= 2 && args[0] == "raft" && args[1] == "list-peers") {
    return raft_list_peers(args.subspan(2));
  }
  if (args.size() >= 2 && args[0] == "raft" && args[1] == "remove-peer") {
    return raft_remove_peer(args.subspan(2));
  }
  fmt::print(stderr,
             "Usage: praetor operator <subcommand> [options]\n\n"
             "Subcommands:\n"
             "    raft list-peers    Display the current Raft peer configuration\n"
             "    raft remove-peer   Remove a Praetor server from the Raft configuration\n");
  return 1;
}

}  // namespace praetor::cmd
