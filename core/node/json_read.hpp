// Lenient readers of fields in JSON the agent itself asked for (its internal requests' answers:
// anti-entropy's view of the catalog, DNS lookups on client agents): a missing field or one of
// another type reads as empty, and the caller decides whether that makes the answer unusable.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace praetor::node::json_read {

inline std::string string_at(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

inline std::map<std::string, std::string> string_map_at(const nlohmann::json& j, const char* key) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

inline std::uint32_t uint_at(const nlohmann::json& j, const char* key, std::uint32_t fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() && it->get<std::uint64_t>() <= UINT32_MAX
             ? it->get<std::uint32_t>()
             : fallback;
}

}  // namespace praetor::node::json_read
