// The `praetor` subcommands. Each takes the arguments after its command words and returns the
// process exit code; output goes to stdout, errors to stderr (Consul's convention).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cmd/praetor/go_flags.hpp"
#include "cmd/praetor/http_client.hpp"

namespace praetor::cmd {

using Args = std::span<const std::string>;

inline constexpr std::string_view kVersion = "0.1.0";

int run_agent_command(Args args);
int run_validate(Args args);
int run_kv(Args args);
int run_members(Args args);
int run_join(Args args);
int run_leave(Args args);
int run_reload(Args args);
int run_info(Args args);
int run_force_leave(Args args);
int run_keygen(Args args);
int run_operator(Args args);
int run_event(Args args);
int run_watch(Args args);
int run_catalog(Args args);
int run_lock(Args args);
int run_snapshot(Args args);
int run_services(Args args);
int run_maint(Args args);

// Flags shared by every command that talks to the agent's HTTP API.
struct HttpOptions {
  std::string http_addr;  // -http-addr, else PRAETOR_HTTP_ADDR / CONSUL_HTTP_ADDR, else default
  std::string token;      // -token, else PRAETOR_HTTP_TOKEN / CONSUL_HTTP_TOKEN
  std::string datacenter;
  bool stale = false;
};
void add_http_flags(FlagSet& flags, HttpOptions& options);

// A connection to the agent plus the common query parameters and token header.
class AgentClient {
 public:
  static Result<AgentClient> create(const HttpOptions& options);
  // path like "/v1/kv/a"; query without '?' ("recurse&dc=x"); dc/stale are appended.
  // Blocking queries pass a timeout longer than their wait and a cancel_fd (see http_request).
  Result<HttpResponse> call(std::string_view method, std::string_view path, std::string query = "",
                            std::string body = "", int timeout_ms = kHttpClientTimeoutMs,
                            int cancel_fd = -1) const;

 private:
  HttpTarget target_;
  HttpOptions options_;
};

// What Consul's commands check before they start (client.Agent().NodeName()): that the agent
// answers GET /v1/agent/self. The error is the text to print after "Error querying agent: ".
Result<void> check_agent(const AgentClient& client);
// A client for the agent that answers, as event, watch and lock need before they start: prints
// "Error connecting to agent: ..." or "Error querying agent: ..." and returns nullopt otherwise.
std::optional<AgentClient> connect_to_agent(const HttpOptions& options);

// "Unexpected response code: 500 (body)", the error text of Consul's api package.
std::string unexpected_response(const HttpResponse& r);

// Prints usage for a flag error and returns the exit code: 0 for -h, 1 otherwise.
int flag_error(const Error& error, std::string_view synopsis, const FlagSet& flags);

// Field reads of agent responses that tolerate missing or mistyped fields (nlohmann's value()
// throws on a type mismatch; a CLI must not die on an odd response).
std::string json_string(const nlohmann::json& obj, const char* key);
std::uint64_t json_uint(const nlohmann::json& obj, const char* key);
bool json_bool(const nlohmann::json& obj, const char* key);

// Columns separated by two spaces, each as wide as its widest cell (Consul's columnize).
std::string columnize(const std::vector<std::vector<std::string>>& rows);

}  // namespace praetor::cmd
