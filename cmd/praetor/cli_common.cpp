#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "cmd/praetor/commands.hpp"

namespace praetor::cmd {
namespace {

std::string env_or(const char* first, const char* second, std::string fallback) {
  for (const char* name : {first, second}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return v;
  }
  return fallback;
}

}  // namespace

void add_http_flags(FlagSet& flags, HttpOptions& options) {
  options.http_addr = env_or("PRAETOR_HTTP_ADDR", "CONSUL_HTTP_ADDR", "127.0.0.1:8500");
  options.token = env_or("PRAETOR_HTTP_TOKEN", "CONSUL_HTTP_TOKEN", "");
  flags.add_string("http-addr", &options.http_addr,
                   "The address of the agent's HTTP API: host:port, http://host:port or "
                   "unix:///path. Also PRAETOR_HTTP_ADDR or CONSUL_HTTP_ADDR. Default "
                   "127.0.0.1:8500.");
  flags.add_string("token", &options.token,
                   "ACL token sent as X-Consul-Token. Also PRAETOR_HTTP_TOKEN or "
                   "CONSUL_HTTP_TOKEN.");
  flags.add_string("datacenter", &options.datacenter, "Name of the datacenter to query.");
  flags.add_bool("stale", &options.stale, "Allow any server to answer reads, not only the leader.");
}

Result<AgentClient> AgentClient::create(const HttpOptions& options) {
  auto target = parse_http_addr(options.http_addr);
  if (!target) return target.error();
  AgentClient client;
  client.target_ = *target;
  client.options_ = options;
  return client;
}

Result<HttpResponse> AgentClient::call(std::string_view method, std::string_view path,
                                       std::string query, std::string body, int timeout_ms,
                                       int cancel_fd) const {
  auto add = [&query](const std::string& part) { query += (query.empty() ? "" : "&") + part; };
  if (!options_.datacenter.empty()) add("dc=" + escape_query(options_.datacenter));
  if (options_.stale) add("stale");
  HttpRequest request;
  request.method = std::string(method);
  request.target = std::string(path) + (query.empty() ? "" : "?" + query);
  request.body = std::move(body);
  if (!options_.token.empty()) request.headers["X-Consul-Token"] = options_.token;
  return http_request(target_, request, timeout_ms, cancel_fd);
}

Result<void> check_agent(const AgentClient& client) {
  auto r = client.call("GET", "/v1/agent/self");
  if (!r) return r.error();
  if (r->status != 200) return make_error(ErrorCode::kUnavailable, unexpected_response(*r));
  return ok();
}

std::optional<AgentClient> connect_to_agent(const HttpOptions& options) {
  auto client = AgentClient::create(options);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return std::nullopt;
  }
  if (auto reachable = check_agent(*client); !reachable) {
    fmt::print(stderr, "Error querying agent: {}\n", reachable.error().message);
    return std::nullopt;
  }
  return std::move(client.value());
}

std::string unexpected_response(const HttpResponse& r) {
  std::string body = r.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return fmt::format("Unexpected response code: {} ({})", r.status, body);
}

int flag_error(const Error& error, std::string_view synopsis, const FlagSet& flags) {
  if (error.message == "help") {
    fmt::print(stdout, "Usage: {}\n\n{}", synopsis, flags.usage());
    return 0;
  }
  fmt::print(stderr, "{}\n\nUsage: {}\n\n{}", error.message, synopsis, flags.usage());
  return 1;
}

std::string json_string(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::uint64_t json_uint(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

bool json_bool(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return false;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

std::string columnize(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace praetor::cmd
