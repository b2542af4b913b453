// Writing JSON for the API. nlohmann's dump() throws on a string that is not valid UTF-8, and
// such strings can reach a response from places the API does not control: a log written before
// keys were checked, a gossip peer's name or tags. So every response body is written through
// json_text(), which replaces invalid bytes with U+FFFD (as Go's encoding/json does for Consul)
// and cannot throw; a request can never crash the agent by making it read such a string.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace praetor::node {

inline std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace praetor::node
