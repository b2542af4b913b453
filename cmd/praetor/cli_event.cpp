// `praetor event [-name=NAME] [-node=RE] [-service=RE] [-tag=RE] [payload]`: fires a user event
// through PUT /v1/event/fire/NAME and prints `Event ID: <id>`, with Consul's checks and words.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "cmd/praetor/commands.hpp"

namespace praetor::cmd {
namespace {

constexpr std::string_view kEventSynopsis = "praetor event [options] [payload]";

// Consul compiles each filter before sending it so that a typo is reported here rather than
// as an HTTP 400. Go's RE2 and ECMAScript differ at the edges; the agent has the last word.
std::optional<std::string> regex_problem(const std::string& pattern) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return fmt::format("error parsing regexp: {}: `{}`", e.what(), pattern);
  }
  return std::nullopt;
}

}  // namespace

int run_event(Args args) {
  HttpOptions http;
  std::string name, node, service, tag;
  FlagSet flags("event");
  add_http_flags(flags, http);
  flags.add_string("name", &name, "Name of the event.");
  flags.add_string("node", &node, "Regular expression to filter on node names.");
  flags.add_string("service", &service, "Regular expression to filter on service instances.");
  flags.add_string("tag", &tag,
                   "Regular expression to filter on service tags. Must be used with -service.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kEventSynopsis, flags);
  const auto usage_error = [&](std::string_view message) {
    fmt::print(stderr, "{}\n\nUsage: {}\n\n{}", message, kEventSynopsis, flags.usage());
    return 1;
  };
  if (name.empty()) return usage_error("Event name must be specified");
  // Consul's order of checks: each filter compiles, then tag needs service, then the payload.
  const std::pair<const std::string*, const char*> filters[] = {
      {&node, "node"}, {&service, "service"}, {&tag, "tag"}};
  for (const auto& [pattern, what] : filters) {
    if (pattern->empty()) continue;
    if (auto problem = regex_problem(*pattern)) {
      fmt::print(stderr, "Failed to compile {} filter regexp: {}\n", what, *problem);
      return 1;
    }
  }
  if (!tag.empty() && service.empty()) {
    fmt::print(stderr, "Cannot provide tag filter without service filter.\n");
    return 1;
  }
  if (rest->size() > 1) return usage_error("Too many command line arguments.");
  const std::string payload = rest->empty() ? "" : (*rest)[0];

  auto client = connect_to_agent(http);
  if (!client) return 1;
  std::string query;
  const auto add = [&query](std::string_view key, const std::string& value) {
    if (!value.empty())
      query += fmt::format("{}{}={}", query.empty() ? "" : "&", key, escape_query(value));
  };
  add("node", node);
  add("service", service);
  add("tag", tag);
  auto r = client->call("PUT", "/v1/event/fire/" + escape_path(name, /*keep_slash=*/false), query,
                        payload);
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error firing event: {}\n", r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  const auto doc = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  const std::string id = json_string(doc, "ID");
  if (id.empty()) {
    fmt::print(stderr, "Error firing event: the agent's answer has no ID: {}\n", r->body);
    return 1;
  }
  fmt::print("Event ID: {}\n", id);
  return 0;
}

}  // namespace praetor::cmd
