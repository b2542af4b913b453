// Typed HTTP requests and responses as the core sees them. io/ parses bytes into HttpRequest
// (bounded, validated) and writes HttpResponse back; the simulator builds them directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/result.hpp"

namespace praetor::node {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // decoded path without the query: "/v1/kv/a/b"
  std::string raw_path;  // as received, still percent-encoded (IDs may contain '/')
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;  // "127.0.0.1:53412", informational
  // The agent the client asked (its node name), set where the request enters and carried when it
  // is forwarded: what Consul's HTTP handlers fill in as "this agent" before their RPC (a
  // session's default Node) is the first agent's, not the leader's.
  std::string origin_node;

  // Presence-based flags (Consul: ?recurse=false still recurses).
  bool has_query(std::string_view name) const;
  std::optional<std::string> query_value(std::string_view name) const;
  std::optional<std::string> header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  void set_header(std::string name, std::string value);
  std::optional<std::string> header(std::string_view name) const;  // case-insensitive
  static HttpResponse text(int status, std::string body);   // text/plain
  static HttpResponse json(int status, std::string body);   // application/json
};

std::string_view http_reason(int status);

// Splits "/v1/kv/a%2Fb?recurse&x=1" into a decoded path and decoded query pairs. Rejects bad
// percent-escapes and control characters with a message for a 400.
struct ParsedTarget {
  std::string path;
  std::string raw_path;
  std::vector<std::pair<std::string, std::string>> query;
};
Result<ParsedTarget> parse_target(std::string_view target);
Result<std::string> url_decode(std::string_view text, bool plus_is_space);

}  // namespace praetor::node
