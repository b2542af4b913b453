// Fuzzes the agent's HTTP handlers with arbitrary bytes where a client controls them: method,
// decoded path, query names and values, body. One input is one request to a fresh -dev agent,
// followed by reads that render everything the store holds (recurse, stale, keys with a fuzzed
// prefix and separator, agent self and members). Every request must get exactly one answer with
// a valid status, every 200 JSON answer must parse, and the agent's invariants must hold: the
// first version of this target finds the issue-10 crash (a key that is not valid UTF-8, stored
// and then read) within seconds.
//
// Input: byte 0 picks the method and whether the target goes through parse_target (percent
// decoding, as from the wire) or straight in as decoded bytes (as a forwarded request could
// carry them); the rest is split at NUL bytes into path, query, body, prefix, separator.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/assert.hpp"
#include "core/node/agent.hpp"
#include "tests/support/agent_harness.hpp"

namespace {

using namespace praetor;
using namespace praetor::node;

std::vector<std::string> split_parts(std::string_view input, std::size_t count) {
  std::vector<std::string> parts;
  while (parts.size() + 1 < count) {
    const auto nul = input.find('\0');
    if (nul == std::string_view::npos) break;
    parts.emplace_back(input.substr(0, nul));
    input.remove_prefix(nul + 1);
  }
  parts.emplace_back(input);
  parts.resize(count);
  return parts;
}

// The query as given, split on '&' and '=' without decoding: bytes a decoder would refuse get
// through this way.
std::vector<std::pair<std::string, std::string>> split_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view item = q.substr(0, amp);
    auto eq = item.find('=');
    out.emplace_back(std::string(item.substr(0, eq)),
                     eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

// One request, answered: a parked blocking read is let run to its wait, as the host's timer
// would. Checks what every answer must satisfy.
void request(AgentHarness& h, std::string method, std::string path,
             std::vector<std::pair<std::string, std::string>> query, std::string body) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.raw_path = r.path;
  r.query = std::move(query);
  r.body = std::move(body);
  const RequestId id = h.send(std::move(r));
  // A wait is at most ten minutes and a sixteenth.
  h.advance_until_answered(id, Duration::minutes(11));
  auto response = h.take(id);
  PRAETOR_ASSERT_MSG(response.has_value(), "no answer to request {}", id);
  PRAETOR_ASSERT(response->status >= 200 && response->status < 600);
  if (response->status == 200 && response->header("Content-Type") == "application/json") {
    PRAETOR_ASSERT_MSG(nlohmann::json::accept(response->body), "a 200 with broken JSON: {}",
                       response->body);
  }
}

void request_target(AgentHarness& h, std::string method, std::string_view target,
                    std::string body) {
  auto parsed = parse_target(target);
  if (!parsed) return;  // the server answers these with a 400 before the agent sees them
  request(h, std::move(method), std::move(parsed->path), std::move(parsed->query), std::move(body));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 4096) return 0;
  static constexpr const char* kMethods[] = {"GET", "PUT", "DELETE", "HEAD", "POST", "PATCH"};
  const std::uint8_t mode = data[0];
  const std::string method = kMethods[(mode & 0x7F) % 6];
  const bool through_parser = (mode & 0x80) != 0;
  auto parts = split_parts(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), 5);
  AgentHarness h;
  if (through_parser) {
    request_target(h, method, "/" + parts[0] + (parts[1].empty() ? "" : "?" + parts[1]), parts[2]);
  } else {
    request(h, method, "/" + parts[0], split_query(parts[1]), parts[2]);
  }
  // Render everything the request may have stored, every way a client can ask for it.
  request(h, "GET", "/v1/kv/", {{"recurse", ""}}, "");
  request(h, "GET", "/v1/kv/", {{"recurse", ""}, {"stale", ""}}, "");
  request(h, "GET", "/v1/kv/", {{"keys", ""}}, "");
  request(h, "GET", "/v1/kv/" + parts[3], {{"keys", ""}, {"separator", parts[4]}}, "");
  request(h, "GET", "/v1/kv/" + parts[3], {}, "");
  request(h, "GET", "/v1/agent/self", {}, "");
  request(h, "GET", "/v1/agent/members", {}, "");
  // The catalog a fuzzed registration may have written, with the fuzzed prefix as the name.
  request(h, "GET", "/v1/catalog/nodes", {}, "");
  request(h, "GET", "/v1/catalog/services", {}, "");
  request(h, "GET", "/v1/catalog/service/" + parts[3], {{"tag", parts[4]}}, "");
  request(h, "GET", "/v1/catalog/node/" + parts[3], {}, "");
  request(h, "GET", "/v1/health/node/" + parts[3], {}, "");
  request(h, "GET", "/v1/health/service/" + parts[3], {{"passing", ""}}, "");
  request(h, "GET", "/v1/health/state/any", {}, "");
  return 0;
}
