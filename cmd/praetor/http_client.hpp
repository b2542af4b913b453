// A small blocking HTTP/1.1 client for the CLI commands that talk to the local agent
// (`praetor kv`, `members`, `join`, ...). One request per connection ("Connection: close"),
// with a deadline on the whole exchange, Content-Length, chunked or read-to-close bodies.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/base/result.hpp"

namespace praetor::cmd {

// Where the agent's HTTP API listens: "host:port", "http://host:port" or "unix:///path".
struct HttpTarget {
  std::string host;  // name or IP literal (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string unix_path;  // set for unix:// targets
};

Result<HttpTarget> parse_http_addr(std::string_view text);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, already escaped: "/v1/kv/a?recurse"
  std::map<std::string, std::string> headers;
  std::string body;
};

// The message of the error a cancelled request ends with (ErrorCode::kUnavailable).
inline constexpr std::string_view kHttpCancelled = "request cancelled";
inline constexpr int kHttpClientTimeoutMs = 60'000;
inline constexpr std::size_t kHttpClientMaxResponseBytes = 64 * 1024 * 1024;

// cancel_fd, when not -1, is watched with the socket: once it is readable the request is
// abandoned with ErrorCode::kCancelled. `praetor watch` and `praetor lock` park in blocking queries
// for minutes and must still stop at once on SIGINT or when the lock is lost.
Result<HttpResponse> http_request(const HttpTarget& target, const HttpRequest& request,
                                  int timeout_ms = kHttpClientTimeoutMs, int cancel_fd = -1);

// Percent-encodes a KV key or path segment, keeping '/' (Consul's api client does the same).
std::string escape_path(std::string_view text, bool keep_slash = true);
std::string escape_query(std::string_view text);

}  // namespace praetor::cmd
